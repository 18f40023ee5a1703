//! Bulk import (API.md §3): `POST /api/v2/bulk/posts`, a thin handler over
//! `jekcms_content::service::bulk_create_posts`.

use crate::errors::{AppError, item_fault_entries};
use crate::extract::{Caller, JsonPayload, query_pairs};
use crate::idempotent::{self, Done};
use crate::schemas::{ErrorBody, envelopes};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use jekcms_content::bulk::{self, BulkOutcome, ItemOutcome};
use jekcms_content::idempotency::Record;
use jekcms_content::service;
use jekcms_envelope::ErrorEntry;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// The body of a bulk import.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"posts": [
    {"title": "First import", "body": "From the old site.", "status": "published", "tags": ["import"]},
    {"title": "Second import", "slug": "second-import"}
]})))]
#[allow(dead_code)]
pub struct BulkPosts {
    /// 1–100 post bodies, each with the rules of `POST /api/v2/posts`, and `author_id`.
    #[schema(min_items = 1, max_items = 100)]
    posts: Vec<BulkPost>,
}

/// One post of a bulk import (documentation; parsing is `bulk::parse_bulk`): the fields of
/// `NewPost` and `author_id`, in one object schema (an `allOf` could not add a property to
/// `NewPost`, which allows no others).
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
pub struct BulkPost {
    #[serde(flatten)]
    post: jekcms_content::post::NewPost,
    author_id: Option<i64>,
}

impl utoipa::PartialSchema for BulkPost {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
        let RefOr::T(Schema::Object(mut object)) =
            <jekcms_content::post::NewPost as utoipa::PartialSchema>::schema()
        else {
            unreachable!("NewPost's schema is an object")
        };
        object.properties.insert(
            "author_id".to_owned(),
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(1))
                .description(Some(
                    "The user of the site to create the post as, e.g. to keep the authors of \
                     an import (the caller when absent); an id that is no user of the site \
                     fails the item (`VALIDATION_FAILED`, field `posts[i].author_id`).",
                ))
                .into(),
        );
        object.description = Some(
            "One post of a bulk import: the fields of a single create, and `author_id`.".to_owned(),
        );
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for BulkPost {}

/// Query parameters of the bulk import (documentation; parsing is `bulk::parse_atomic`).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct BulkParams {
    /// `true`: any invalid item (or taken slug) fails the call and nothing is created.
    atomic: Option<bool>,
}

/// The outcome of one item.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkItemResult {
    /// Position in the input.
    pub index: usize,
    /// The created post's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Why the item was not created (fields such as `posts[3].title`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ErrorEntry>>,
}

/// `data` of a bulk import.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkResult {
    /// Items created.
    pub created: usize,
    /// Items not created.
    pub failed: usize,
    /// One entry per item, in input order.
    pub results: Vec<BulkItemResult>,
}

envelopes! {
    /// A success envelope around the outcome of a bulk import.
    BulkResultEnvelope(BulkResult);
}

impl From<BulkOutcome> for BulkResult {
    fn from(o: BulkOutcome) -> Self {
        let (created, failed) = (o.created(), o.failed());
        let results = o
            .results
            .into_iter()
            .enumerate()
            .map(|(index, r)| match r {
                ItemOutcome::Created(id) => BulkItemResult {
                    index,
                    id: Some(id),
                    errors: None,
                },
                ItemOutcome::Failed(faults) => BulkItemResult {
                    index,
                    id: None,
                    errors: Some(item_fault_entries(&faults)),
                },
            })
            .collect();
        Self {
            created,
            failed,
            results,
        }
    }
}

/// Creates up to 100 posts in one request.
///
/// One transaction; editor role and above. Each post is created as the caller, or as the
/// user of the site its `author_id` names. Every item is validated like a single create;
/// valid items are created, the others reported in place (`200` either way). `?atomic=true`:
/// all or nothing (`422` with every item's errors, or `409` for taken slugs). Counts as one
/// request against the rate limit. Takes `Idempotency-Key` like `POST /api/v2/posts`.
#[utoipa::path(tag = "posts", security(("bearer" = [])), request_body = BulkPosts,
    params(BulkParams, ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, pattern = "^[ -~]+$", description = "1–255 printable ASCII characters; a retry with the same key and body within 24 hours replays the first response")),
    responses(
    (status = 200, description = "Per-item results in input order", body = BulkResultEnvelope, headers(
        ("Idempotent-Replayed" = String, description = "`true` when this replays the first response to the Idempotency-Key"),
    )),
    (status = 403, description = "Your role may not bulk import (editor and above)", body = ErrorBody),
    (status = 409, description = "Atomic: a slug is taken; or a request with this Idempotency-Key is in progress", body = ErrorBody),
    (status = 422, description = "More than 100 posts, a malformed body, atomic with invalid items, or a bad Idempotency-Key", body = ErrorBody),
))]
#[post("/api/v2/bulk/posts")]
pub async fn bulk_create_posts(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: JsonPayload,
) -> Result<HttpResponse, AppError> {
    service::may_bulk_import(&caller.actor())?;
    idempotent::check_key(&req)?;
    let pairs = query_pairs(&req)?;
    let atomic = bulk::parse_atomic(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(AppError::fields)?;
    let raw = body.read().await?;
    let items = bulk::parse_bulk(raw.clone()).map_err(AppError::fields)?;
    let (store, writer) = (&state.store, caller.writer());
    let work = async move |record: Option<Record<'_, BulkOutcome>>| {
        Ok(service::bulk_create_posts(store, &writer, items, atomic, record).await?)
    };
    idempotent::respond(&req, &caller, &state, &raw, |_| None, imported, work).await
}

/// The response to a bulk import.
fn imported(outcome: &BulkOutcome) -> Result<Done, AppError> {
    let data = BulkResult::from(outcome.clone());
    Ok(Done {
        status: StatusCode::OK,
        data: serde_json::to_value(&data).map_err(|e| AppError::internal(&e))?,
        location: None,
        etag: None,
    })
}
