//! Reads of posts: keyset and offset lists, one post by id.

use super::PostRow;
use crate::load::LoadAll;
use crate::schema::{post_tags, posts, users};
use crate::sql::{LimitLiteral, row_after};
use crate::{Store, StoreError, naive, with_conn};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_content::ContentError;
use jekcms_content::list::{PostFilter, PostListQuery, SortField};
use jekcms_content::page::{Key, OffsetList, OffsetPage, Rows, Window};
use jekcms_content::post::Post;
use std::future::Future;

/// The earliest time a post can carry: a lower bound that lets "has a publication time" be
/// an index range (`published_at >= MIN`) rather than an `IS NOT NULL` filter.
fn min_time() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(0, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("valid date")
}

/// A bound whose key does not fit the sort: content hands the store only bounds it has
/// checked against the sort, so this is a caller's bug, refused like a bad cursor.
fn misfit_bound() -> ContentError {
    ContentError::field("cursor", "cursor is invalid")
}

/// Escapes `%`, `_` and `\` so the text matches literally under `LIKE … ESCAPE '\'`.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The site's posts under the list filters, as a boxed query (backend inferred at use).
macro_rules! filtered {
    ($site_id:expr, $f:expr) => {{
        let f: &PostFilter = $f;
        let mut q = posts::table
            .filter(posts::site_id.eq($site_id))
            .into_boxed();
        if let Some(status) = f.status {
            q = q.filter(posts::status.eq(status.as_str()));
        }
        if let Some(author) = f.author_id {
            q = q.filter(posts::author_id.eq(author));
        }
        if let Some(since) = f.updated_since {
            q = q.filter(posts::updated_at.ge(naive(since)));
        }
        if let Some(text) = &f.q {
            q = q.filter(
                posts::title_key
                    .like(format!("%{}%", escape_like(text)))
                    .escape('\\'),
            );
        }
        if let Some(slug) = &f.slug {
            q = q.filter(posts::slug.eq(slug.clone()));
        }
        if let Some(at) = f.visible_at {
            q = q.filter(posts::published_at.le(naive(at)));
        }
        if !f.tags.is_empty() {
            q = q.filter(
                posts::id.eq_any(
                    post_tags::table
                        .filter(post_tags::site_id.eq($site_id))
                        .filter(post_tags::tag.eq_any(f.tags.clone()))
                        .select(post_tags::post_id),
                ),
            );
        }
        q
    }};
}

/// The columns of a list's rows, in [`PostRow`]'s order; the body's literal only when the
/// list sends it (`PostListQuery::omit_body`), so that a pull page, which by default has no
/// bodies, neither reads nor transfers them. One statement either way: the choice is a bind.
macro_rules! list_columns {
    ($omit_body:expr) => {
        (
            posts::id,
            posts::site_id,
            posts::author_id,
            posts::title,
            posts::slug,
            posts::excerpt,
            diesel::dsl::case_when(
                diesel::IntoSql::into_sql::<diesel::sql_types::Bool>(!$omit_body),
                posts::body_json,
            ),
            posts::status,
            posts::tags,
            posts::published_at,
            posts::created_at,
            posts::updated_at,
            posts::version,
        )
    };
}

/// Applies the keyset bound after `($k, $id)` and the order for column `$col`.
macro_rules! keyset {
    ($q:expr, $col:expr, $after:expr, $desc:expr) => {{
        let mut q = $q;
        if let Some((k, id)) = $after {
            q = q.filter(row_after($col, k, id, $desc));
        }
        if $desc {
            q.order(($col.desc(), posts::id.desc()))
        } else {
            q.order(($col.asc(), posts::id.asc()))
        }
    }};
}

/// Ids-only bound for the rows without a publication time (ordered by id alone).
macro_rules! unpublished {
    ($q:expr, $after_id:expr, $desc:expr) => {{
        let mut q = $q.filter(posts::published_at.is_null());
        if let Some(id) = $after_id {
            q = if $desc {
                q.filter(posts::id.lt(id))
            } else {
                q.filter(posts::id.gt(id))
            };
        }
        if $desc {
            q.order(posts::id.desc())
        } else {
            q.order(posts::id.asc())
        }
    }};
}

pub(super) fn list_posts(
    store: &Store,
    site_id: i64,
    query: &PostListQuery,
    window: &Window,
) -> impl Future<Output = Result<Rows<Post>, ContentError>> + Send {
    let (query, window) = (query.clone(), window.clone());
    crate::boxed(async move {
        let query = &query;
        let want = window.fetch();
        let desc = query.sort.descending;
        let f = &query.filter;
        let after = window.after.as_ref();
        let (rows, total) = with_conn!(store, conn => {
            let rows: Vec<PostRow> = match query.sort.field {
                SortField::CreatedAt | SortField::UpdatedAt => {
                    let bound = match after.map(|b| (&b.key, b.id)) {
                        Some((Key::Time(t), id)) => Some((naive(*t), id)),
                        Some(_) => return Err(misfit_bound()),
                        None => None,
                    };
                    let q = filtered!(site_id, f);
                    let q = if query.sort.field == SortField::CreatedAt {
                        keyset!(q, posts::created_at, bound, desc)
                    } else {
                        keyset!(q, posts::updated_at, bound, desc)
                    };
                    conn.load_first(q.select(list_columns!(query.omit_body)).limit_literal(want)).await.map_err(StoreError::from)?
                }
                SortField::Title => {
                    let bound = match after.map(|b| (&b.key, b.id)) {
                        Some((Key::Text(t), id)) => Some((t.clone(), id)),
                        Some(_) => return Err(misfit_bound()),
                        None => None,
                    };
                    let q = keyset!(filtered!(site_id, f), posts::title_key, bound, desc);
                    conn.load_first(q.select(list_columns!(query.omit_body)).limit_literal(want)).await.map_err(StoreError::from)?
                }
                SortField::PublishedAt => {
                    // Rows with a publication time first (in either direction), then the
                    // rest by id: two range scans, the second only when the first runs out.
                    let (bound, in_unpublished) = match after.map(|b| (&b.key, b.id)) {
                        None => (None, false),
                        Some((Key::Time(t), id)) => (Some((naive(*t), id)), false),
                        Some((Key::Null, _)) => (None, true),
                        Some(_) => return Err(misfit_bound()),
                    };
                    let mut rows: Vec<PostRow> = Vec::new();
                    if !in_unpublished {
                        let q = filtered!(site_id, f).filter(posts::published_at.ge(min_time()));
                        let q = keyset!(q, posts::published_at, bound, desc);
                        rows = conn.load_first(q.select(list_columns!(query.omit_body)).limit_literal(want)).await.map_err(StoreError::from)?;
                    }
                    let missing = want.saturating_sub(rows.len() as u32);
                    if missing > 0 {
                        let after_id = if in_unpublished { window.after_id() } else { None };
                        let q = unpublished!(filtered!(site_id, f), after_id, desc);
                        let more: Vec<PostRow> = conn.load_first(q.select(list_columns!(query.omit_body)).limit_literal(missing)).await.map_err(StoreError::from)?;
                        rows.extend(more);
                    }
                    rows
                }
            };
            let total = if query.include_total {
                let n: i64 = filtered!(site_id, f).count().get_result(conn).await.map_err(StoreError::from)?;
                Some(n as u64)
            } else {
                None
            };
            (rows, total)
        });
        let items = rows
            .into_iter()
            .map(PostRow::into_post)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rows { items, total })
    })
}

pub(super) fn list_posts_offset(
    store: &Store,
    site_id: i64,
    page: OffsetPage,
) -> impl Future<Output = Result<OffsetList<Post>, ContentError>> + Send {
    crate::boxed::<Result<OffsetList<Post>, ContentError>>(async move {
        // The legacy way on purpose: the database walks and discards `offset` rows of the
        // index, then counts every row of the site. This is what v1 costs.
        let offset = page.offset().min(i64::MAX as u64);
        let (rows, total) = with_conn!(store, conn => {
            let rows: Vec<PostRow> = conn
                .load_all(
                    posts::table
                        .filter(posts::site_id.eq(site_id))
                        .order((posts::created_at.desc(), posts::id.desc()))
                        .select(PostRow::as_select())
                        .limit_literal(page.per_page)
                        .offset_literal(offset),
                )
                .await
                .map_err(StoreError::from)?;
            let total: i64 = posts::table
                .filter(posts::site_id.eq(site_id))
                .count()
                .get_result(conn)
                .await
                .map_err(StoreError::from)?;
            (rows, total)
        });
        Ok(OffsetList {
            items: rows
                .into_iter()
                .map(PostRow::into_post)
                .collect::<Result<Vec<_>, _>>()?,
            total: total as u64,
        })
    })
}

pub(super) fn site_user_ids(
    store: &Store,
    site_id: i64,
    ids: Vec<i64>,
) -> impl Future<Output = Result<std::collections::HashSet<i64>, ContentError>> + Send {
    crate::boxed::<Result<std::collections::HashSet<i64>, ContentError>>(async move {
        let ids = &ids;
        let found: Vec<i64> = with_conn!(store, conn => {
            users::table
                .filter(users::site_id.eq(site_id))
                .filter(users::id.eq_any(ids))
                .select(users::id)
                .load::<i64>(conn)
                .await
                .map_err(StoreError::from)
        })?;
        Ok(found.into_iter().collect())
    })
}

pub(super) fn get_post(
    store: &Store,
    site_id: i64,
    id: i64,
) -> impl Future<Output = Result<Post, ContentError>> + Send {
    crate::boxed::<Result<Post, ContentError>>(async move {
        let row = with_conn!(store, conn => {
            let rows: Vec<PostRow> = conn
                .load_first(
                    posts::table
                        .filter(posts::site_id.eq(site_id))
                        .filter(posts::id.eq(id))
                        .select(PostRow::as_select())
                        .limit_literal(1),
                )
                .await
                .map_err(StoreError::from)?;
            rows.into_iter().next().ok_or(StoreError::NotFound)?
        });
        Ok(row.into_post()?)
    })
}

/// One post by id, and whether its visibility has been announced (`publish_announced`):
/// what an update needs to tell which events it makes.
pub(super) fn get_post_announced(
    store: &Store,
    site_id: i64,
    id: i64,
) -> impl Future<Output = Result<(Post, bool), ContentError>> + Send {
    crate::boxed::<Result<(Post, bool), ContentError>>(async move {
        let (row, announced) = with_conn!(store, conn => {
            let rows: Vec<(PostRow, bool)> = conn
                .load_all(
                    posts::table
                        .filter(posts::site_id.eq(site_id))
                        .filter(posts::id.eq(id))
                        .select((PostRow::as_select(), posts::publish_announced))
                        .limit_literal(1),
                )
                .await
                .map_err(StoreError::from)?;
            rows.into_iter().next().ok_or(StoreError::NotFound)?
        });
        Ok((row.into_post()?, announced))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(escape_like("100%_a\\b"), "100\\%\\_a\\\\b");
    }
}
