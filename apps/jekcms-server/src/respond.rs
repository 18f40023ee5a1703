//! Success responses in the envelope.

use crate::context;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use jekcms_content::page::Page;
use jekcms_envelope::{Envelope, Meta, PageMeta};
use serde::Serialize;

/// `builder` with `value` as its JSON body, serialized into a buffer of `capacity` bytes:
/// growing one from empty to a page of posts (~40 KB) copies it ten times over.
fn json_body<T: Serialize>(
    mut builder: actix_web::HttpResponseBuilder,
    value: &T,
    capacity: usize,
) -> HttpResponse {
    let mut body = Vec::with_capacity(capacity);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => builder
            .content_type(actix_web::http::header::ContentType::json())
            .body(body),
        Err(e) => crate::errors::AppError::internal(&e).error_response(),
    }
}

/// Room for one item's JSON, e.g. a post with a 2 KB body.
pub(crate) const ITEM_BYTES: usize = 2048;

/// `200` with `data`.
pub fn ok<T: Serialize>(data: T) -> HttpResponse {
    with_status(StatusCode::OK, data)
}

/// Any 2xx status with `data`.
pub fn with_status<T: Serialize>(status: StatusCode, data: T) -> HttpResponse {
    json_body(
        HttpResponse::build(status),
        &Envelope::ok(data, Meta::new(context::request_id())),
        ITEM_BYTES,
    )
}

/// `201 Created` with `Location`.
pub fn created<T: Serialize>(location: String, data: T) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((actix_web::http::header::LOCATION, location))
        .json(Envelope::ok(data, Meta::new(context::request_id())))
}

/// `200` with a list page (cut and sealed by `ListRequest::page`), tagged with a hash of its
/// rows and pagination (not of its `next_cursor`, which is sealed afresh each time), so a
/// client can revalidate it (`conditional.rs` answers the `304`).
pub fn page<T: Serialize>(page: Page<T>) -> HttpResponse {
    let etag = serde_json::to_vec(&(
        &page.items,
        page.next_cursor.is_some(),
        page.total,
        page.limit,
    ))
    .ok()
    .map(|rows| crate::conditional::weak_etag("r", &[&rows]));
    let mut res = page_tagged(page);
    if let Some(v) = etag.and_then(|e| actix_web::http::header::HeaderValue::from_str(&e).ok()) {
        res.headers_mut().insert(actix_web::http::header::ETAG, v);
    }
    res
}

/// `200` with a list page whose `ETag` the caller sets.
pub fn page_tagged<T: Serialize>(page: Page<T>) -> HttpResponse {
    let meta = Meta::new(context::request_id()).with_page(PageMeta {
        has_more: page.next_cursor.is_some(),
        next_cursor: page.next_cursor,
        limit: page.limit,
        total: page.total,
    });
    let capacity = (page.items.len() + 1) * ITEM_BYTES;
    json_body(
        HttpResponse::Ok(),
        &Envelope::ok(page.items, meta),
        capacity,
    )
}

/// Marks a response that carries credentials as never to be cached (RFC 6749 §5.1).
pub fn no_store(mut res: HttpResponse) -> HttpResponse {
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    res
}
