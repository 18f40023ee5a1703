//! Id-ordered cursor pages for small collections (users, API keys): `?limit=` 1–100
//! (default 20) and `?cursor=`, sealed like every cursor and bound to the caller's site and
//! the collection, so a cursor of one list is refused by another.

use crate::errors::AppError;
use crate::extract::query_pairs;
use actix_web::HttpRequest;
use jekcms_content::list::Page;
use jekcms_cursor::{Cursor, CursorCodec, SortKey};

/// The page a request asks for.
#[derive(Debug, Clone, Copy)]
pub struct IdPage {
    /// Rows wanted.
    pub limit: u32,
    /// Last id of the previous page.
    pub after: Option<i64>,
}

impl IdPage {
    /// Reads `limit` and `cursor`; anything else, or a bad value, is 422 naming it.
    pub fn from_request(
        req: &HttpRequest,
        codec: &CursorCodec,
        binding: &[u8],
    ) -> Result<Self, AppError> {
        let mut page = Self {
            limit: 20,
            after: None,
        };
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in query_pairs(req)? {
            if seen.contains(&name) {
                return Err(AppError::validation(
                    name.clone(),
                    format!("{name} is given more than once"),
                ));
            }
            match name.as_str() {
                "limit" => {
                    page.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or_else(|| {
                            AppError::validation("limit", "limit must be an integer from 1 to 100")
                        })?;
                }
                "cursor" => {
                    let cursor = codec.open(&value, binding).map_err(|_| {
                        AppError::validation(
                            "cursor",
                            "the cursor is invalid or belongs to another list",
                        )
                    })?;
                    page.after = Some(cursor.id);
                }
                _ => {
                    return Err(AppError::validation(
                        name.clone(),
                        format!("unknown parameter {name}; this list takes limit and cursor"),
                    ));
                }
            }
            seen.push(name);
        }
        Ok(page)
    }

    /// How many rows to fetch: one more than wanted, to learn whether more follow.
    pub fn fetch(&self) -> u32 {
        self.limit + 1
    }

    /// Cuts the fetched rows to a page, with the cursor after its last row.
    pub fn page<T>(&self, mut rows: Vec<T>, id_of: impl Fn(&T) -> i64) -> Page<T> {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next = if more {
            rows.last().map(|r| Cursor {
                key: SortKey::Null,
                id: id_of(r),
            })
        } else {
            None
        };
        Page {
            items: rows,
            next,
            total: None,
        }
    }
}
