//! Bulk import of posts (API.md §3, `POST /api/v2/bulk/posts`): reading the body, and the
//! per-item outcome in input order.
//!
//! Every item is validated by [`crate::post::parse_new`], the rules of a single create, with
//! the field prefix `posts[i].`. Slugs unique across the batch and the site are decided by
//! [`SlugPlan`] (the [`slugs`] module), from what the store finds in the site inside the
//! import's transaction ([`crate::PostRepository::create_posts`]).

use crate::FieldError;
use crate::page::Params;
use crate::post::{NewPost, parse_new};
use jekcms_envelope::fields::Fields;
use serde_json::Value;

pub mod slugs;

pub use slugs::{SlugPlan, SuffixSearch};

/// Most posts in one bulk call.
pub const MAX_BULK_POSTS: usize = 100;

/// A valid item of a bulk body: the post, and the user it is created as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkPost {
    /// The post.
    pub post: NewPost,
    /// `author_id`: a user of the site to create the post as (an import keeping its
    /// authors); the caller when absent. Checked against the site's users by
    /// [`crate::service::bulk_create_posts`].
    pub author_id: Option<i64>,
}

/// One item of a bulk body after validation: the post, or every problem with it.
pub type BulkItem = Result<BulkPost, Vec<FieldError>>;

/// Reads a bulk body `{"posts": [...]}`. The body's own faults (not an object, an unknown
/// key, `posts` missing, not an array, empty, or over [`MAX_BULK_POSTS`]) fail the whole
/// call; otherwise each item is validated on its own.
pub fn parse_bulk(value: Value) -> Result<Vec<BulkItem>, Vec<FieldError>> {
    let mut body = Fields::new(value, &["posts"])?;
    let items = match body.take("posts") {
        None => {
            body.fail("posts", "posts is required");
            Vec::new()
        }
        Some(Value::Array(items)) if items.is_empty() => {
            body.fail("posts", "posts must hold at least one post");
            items
        }
        Some(Value::Array(items)) if items.len() > MAX_BULK_POSTS => {
            body.fail(
                "posts",
                format!(
                    "at most {MAX_BULK_POSTS} posts per call (got {}); split the import",
                    items.len()
                ),
            );
            items
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            body.fail("posts", "posts must be an array of posts");
            Vec::new()
        }
    };
    let items = body.finish(items)?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, item)| parse_item(item, i))
        .collect())
}

/// One item: the fields of a single create, and `author_id`.
fn parse_item(mut item: Value, i: usize) -> BulkItem {
    let prefix = format!("posts[{i}].");
    let mut errors = Vec::new();
    let author_id = match item.as_object_mut().and_then(|m| m.remove("author_id")) {
        None | Some(Value::Null) => None,
        Some(v) => {
            let id = v.as_i64().filter(|id| *id > 0);
            if id.is_none() {
                errors.push(FieldError::new(
                    format!("{prefix}author_id"),
                    "author_id must be the id of a user of the site (a positive integer)",
                ));
            }
            id
        }
    };
    match parse_new(item, &prefix) {
        Ok(post) if errors.is_empty() => Ok(BulkPost { post, author_id }),
        Ok(_) => Err(errors),
        Err(mut e) => {
            e.extend(errors);
            Err(e)
        }
    }
}

/// The error of item `index` whose `author_id` is no user of the site.
pub fn unknown_author(index: usize, author_id: i64) -> FieldError {
    FieldError::new(
        format!("posts[{index}].author_id"),
        format!("author_id {author_id} is not a user of this site"),
    )
}

/// Reads the bulk endpoint's query parameters: only `atomic` (`true` or `false`, default
/// `false`), through the one query reader ([`Params`]).
pub fn parse_atomic<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<bool, Vec<FieldError>> {
    let params = Params::parse(pairs, &["atomic"])?;
    match params.get("atomic") {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(vec![FieldError::new(
            "atomic",
            "atomic must be true or false",
        )]),
    }
}

/// Why one item of a bulk call was not created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemFault {
    /// It broke a validation rule (`VALIDATION_FAILED`).
    Invalid(FieldError),
    /// Its slug is taken in the site or by an earlier item of the batch (`CONFLICT`).
    Conflict(FieldError),
}

/// The outcome of one item, in input order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Created with this id.
    Created(i64),
    /// Not created, for these reasons.
    Failed(Vec<ItemFault>),
}

/// The outcome of a bulk call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkOutcome {
    /// One entry per input item, in input order.
    pub results: Vec<ItemOutcome>,
}

impl BulkOutcome {
    /// How many items were created.
    pub fn created(&self) -> usize {
        self.results
            .iter()
            .filter(|r| matches!(r, ItemOutcome::Created(_)))
            .count()
    }

    /// How many items failed.
    pub fn failed(&self) -> usize {
        self.results.len() - self.created()
    }
}

/// The conflict of item `index` whose slug is taken.
pub fn slug_conflict(index: usize, slug: &str) -> ItemFault {
    ItemFault::Conflict(FieldError::new(
        format!("posts[{index}].slug"),
        format!("slug {slug:?} is already taken in the site or by an earlier post of this batch"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_are_validated_with_their_index() {
        let items = parse_bulk(json!({"posts": [
            {"title": "ok"},
            {"title": "", "colour": "red"},
            "not an object",
        ]}))
        .unwrap();
        assert!(items[0].is_ok());
        let mut fields: Vec<String> = items[1]
            .as_ref()
            .unwrap_err()
            .iter()
            .map(|e| e.field.clone())
            .collect();
        fields.sort();
        assert_eq!(fields, ["posts[1].colour", "posts[1].title"]);
        assert_eq!(items[2].as_ref().unwrap_err()[0].field, "posts[2]");
    }

    #[test]
    fn an_author_may_be_named_by_id() {
        let items = parse_bulk(json!({"posts": [
            {"title": "a", "author_id": 7},
            {"title": "b", "author_id": null},
            {"title": "c", "author_id": "7"},
            {"title": "", "author_id": 0},
        ]}))
        .unwrap();
        assert_eq!(items[0].as_ref().unwrap().author_id, Some(7));
        assert_eq!(items[1].as_ref().unwrap().author_id, None);
        assert_eq!(
            items[2].as_ref().unwrap_err()[0].field,
            "posts[2].author_id"
        );
        let mut fields: Vec<&str> = items[3]
            .as_ref()
            .unwrap_err()
            .iter()
            .map(|e| e.field.as_str())
            .collect();
        fields.sort();
        assert_eq!(fields, ["posts[3].author_id", "posts[3].title"]);
    }

    #[test]
    fn the_body_itself_must_be_well_formed() {
        let field = |v: Value| parse_bulk(v).unwrap_err()[0].field.clone();
        assert_eq!(field(json!([])), "body");
        assert_eq!(field(json!({})), "posts");
        assert_eq!(field(json!({"posts": {}})), "posts");
        assert_eq!(field(json!({"posts": []})), "posts");
        assert_eq!(
            field(json!({"posts": [{"title": "t"}], "atomic": true})),
            "atomic"
        );
        let hundred: Vec<Value> = (0..100)
            .map(|i| json!({"title": format!("t{i}")}))
            .collect();
        assert_eq!(parse_bulk(json!({ "posts": hundred })).unwrap().len(), 100);
        let over: Vec<Value> = (0..101)
            .map(|i| json!({"title": format!("t{i}")}))
            .collect();
        let errs = parse_bulk(json!({ "posts": over })).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "posts");
        assert!(errs[0].message.contains("100"), "{}", errs[0].message);
    }

    #[test]
    fn atomic_parameter() {
        assert_eq!(parse_atomic([]), Ok(false));
        assert_eq!(parse_atomic([("atomic", "true")]), Ok(true));
        assert_eq!(parse_atomic([("atomic", "false")]), Ok(false));
        assert_eq!(
            parse_atomic([("atomic", "yes")]).unwrap_err()[0].field,
            "atomic"
        );
        assert_eq!(
            parse_atomic([("atomc", "true")]).unwrap_err()[0].field,
            "atomc"
        );
    }

    #[test]
    fn counts() {
        let o = BulkOutcome {
            results: vec![
                ItemOutcome::Created(1),
                ItemOutcome::Failed(vec![slug_conflict(1, "a")]),
                ItemOutcome::Created(2),
            ],
        };
        assert_eq!((o.created(), o.failed()), (2, 1));
    }
}
