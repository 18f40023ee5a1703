//! Every list request is read the one way of [`jekcms_content::page`]: [`list_request`]
//! parses the query string once, with the caller's site and the deployment's cursor codec,
//! into the list's query and the window a store is asked for; the handler then cuts and
//! seals the fetched rows with [`ListRequest::page`].
//!
//! The id-ordered lists (users, API keys) add no parameters: [`ById`]. Their cursors are
//! bound to the site and the collection, so a cursor of one list is refused by another.

use crate::errors::AppError;
use crate::extract::{Caller, query_pairs};
use actix_web::HttpRequest;
use jekcms_accounts::model::{ApiKey, User};
use jekcms_content::FieldError;
use jekcms_content::page::{Bound, Keys, ListRequest, Listing, Params};
use jekcms_cursor::CursorCodec;
use std::marker::PhantomData;

/// Parses the list request `req` of `caller` for list `Q`; every bad parameter is a 422
/// naming it.
pub fn list_request<'c, Q: Listing>(
    req: &HttpRequest,
    caller: &Caller,
    codec: &'c CursorCodec,
) -> Result<ListRequest<'c, Q>, AppError> {
    list_request_in(req, caller.0.site_id, codec)
}

/// [`list_request`] for site `site_id` (a caller not checked yet: `extract::ReadCaller`).
pub fn list_request_in<'c, Q: Listing>(
    req: &HttpRequest,
    site_id: i64,
    codec: &'c CursorCodec,
) -> Result<ListRequest<'c, Q>, AppError> {
    let pairs = query_pairs(req)?;
    ListRequest::parse(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        codec,
        site_id,
    )
    .map_err(AppError::fields)
}

/// A row of a list ordered by id alone.
pub trait IdRow {
    /// The collection its cursors are bound to.
    const COLLECTION: &'static [u8];
    /// Its id.
    fn id(&self) -> i64;
}

impl IdRow for User {
    const COLLECTION: &'static [u8] = b"users";
    fn id(&self) -> i64 {
        self.id
    }
}

impl IdRow for ApiKey {
    const COLLECTION: &'static [u8] = b"api-keys";
    fn id(&self) -> i64 {
        self.id
    }
}

/// A list of `T` in id order, with no parameters besides `limit` and `cursor`.
#[derive(Debug)]
pub struct ById<T>(PhantomData<T>);

impl<T: IdRow> Listing for ById<T> {
    type Item = T;
    const PARAMS: &'static [&'static str] = &[];

    fn from_params(_: &Params<'_>) -> Result<Self, Vec<FieldError>> {
        Ok(Self(PhantomData))
    }

    fn binding(&self) -> Vec<u8> {
        T::COLLECTION.to_vec()
    }

    fn keys(&self) -> Keys {
        Keys::IdOnly
    }

    fn bound_after(&self, row: &T) -> Bound {
        Bound::id(row.id())
    }
}
