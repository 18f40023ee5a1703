//! `GET /api/v2/activity`: the site's activity log (admins and owners).

use crate::errors::AppError;
use crate::extract::Caller;
use crate::paging::list_request;
use crate::respond;
use crate::schemas::{ActivityList, ErrorBody};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, web};
use jekcms_content::activity::ActivityQuery;
use jekcms_content::service;
use utoipa::IntoParams;

/// Query parameters of the activity list (documentation).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ActivityParams {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `meta.next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only events of these types: repeat the parameter or separate with commas.
    #[param(value_type = Option<String>, example = "post.created,post.deleted")]
    r#type: Option<String>,
    /// Only events by this user.
    #[param(minimum = 1)]
    actor_id: Option<i64>,
    /// Only events at or after this time (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
}

/// Lists the site's activity log, newest first.
///
/// Every write of every API records its events in its own transaction: a post or medium
/// created, changed, published, unpublished or deleted, and the site's keys rotated. Each
/// event names its actor (user, credential family and key), its subject and the request
/// that made it. Reads are not recorded. Events are kept for
/// `JEKCMS_ACTIVITY_RETENTION_DAYS` days.
#[utoipa::path(tag = "activity", params(ActivityParams), security(("bearer" = [])), responses(
    (status = 200, description = "A page of events", body = ActivityList),
    (status = 403, description = "Only admins and owners read the activity log", body = ErrorBody),
    (status = 422, description = "A bad limit, cursor or filter", body = ErrorBody),
))]
#[get("/api/v2/activity")]
pub async fn list_activity(
    caller: Caller,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let actor = caller.actor();
    // The role first: a viewer learns nothing from the parameters' errors.
    actor
        .require(jekcms_auth::Action::ReadActivity, false)
        .map_err(jekcms_content::ContentError::from)?;
    let list = list_request::<ActivityQuery>(&req, &caller, &state.cursors)?;
    let rows = service::list_activity(&state.store, &actor, &list.query, &list.window).await?;
    Ok(respond::page(list.page(rows)))
}
