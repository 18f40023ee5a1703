//! OpenAPI schemas of post fields that derive attributes cannot state (feature `openapi`):
//! the tag list, whose items have rules of their own.

use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};

/// One tag: 1–50 characters, no surrounding whitespace, no control characters (the rules of
/// `Fields::tags` in [`crate::post`]).
fn tag() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(crate::post::MAX_TAG_CHARS))
        .pattern(Some(
            r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]*[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f])?$",
        ))
}

/// `tags` of a new post: at most 20 tags (duplicates are dropped, in the order given).
pub(crate) fn tags() -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(tag())
        .max_items(Some(crate::post::MAX_TAGS))
        .description(Some(
            "At most 20 distinct tags of 1–50 characters, without surrounding spaces or control characters; repeats are dropped.",
        ))
        .into()
}

/// `tags` of a merge patch: the same list, or `null` to clear.
pub(crate) fn tags_or_null() -> RefOr<Schema> {
    ArrayBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Array,
            Type::Null,
        ]))
        .items(tag())
        .max_items(Some(crate::post::MAX_TAGS))
        .description(Some(
            "New tags (`null` clears), with the rules of a new post's.",
        ))
        .into()
}

/// `?tag=` of the post list, repeatable (any of): at most 20 values of 1–50 characters.
pub fn tag_filter() -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(crate::post::MAX_TAG_CHARS)),
        )
        .max_items(Some(crate::post::MAX_TAGS))
        .description(Some(
            "Only posts with this tag; repeat it (`?tag=a&tag=b`, at most 20) for posts with any of them.",
        ))
        .into()
}
