//! Reads of posts: keyset and offset lists, one post by id.

use super::PostRow;
use crate::load::LoadAll;
use crate::schema::{post_tags, posts, users};
use crate::sql::{LimitLiteral, opaque, row_after};
use crate::{Store, StoreError, naive, with_conn};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use diesel_async::RunQueryDsl;
use jekcms_content::ContentError;
use jekcms_content::list::{PostFilter, PostListQuery, SortField};
use jekcms_content::page::{Key, OffsetList, OffsetPage, Rows, Window};
use jekcms_content::post::{Post, PostStatus};
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

/// The site's posts under the list filters, as a boxed query (backend inferred at use);
/// the site [`opaque`] to PostgreSQL's planner when `$opaque` (see [`plan_free`]).
macro_rules! filtered {
    ($site_id:expr, $f:expr, $opaque:expr) => {{
        let f: &PostFilter = $f;
        let hidden: bool = $opaque;
        let mut q = posts::table
            .filter(posts::site_id.eq(opaque::<BigInt, _>($site_id, hidden)))
            .into_boxed();
        if let Some(status) = f.status {
            q = q.filter(posts::status.eq(opaque::<Text, _>(status.as_str(), hidden)));
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
            q = q.filter(
                posts::published_at.le(opaque::<Nullable<Timestamp>, _>(naive(at), hidden)),
            );
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

/// Applies the keyset bound after `($k, $id)` (opaque to the planner when `$opaque`) and
/// the order for column `$col`.
macro_rules! keyset {
    ($q:expr, $col:expr, $after:expr, $desc:expr, $opaque:expr) => {{
        let mut q = $q;
        if let Some((k, id)) = $after {
            q = q.filter(row_after($col, k, id, $desc, $opaque));
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
    ($q:expr, $after_id:expr, $desc:expr, $opaque:expr) => {{
        let mut q = $q.filter(posts::published_at.is_null());
        if let Some(id) = $after_id {
            let id = opaque::<BigInt, _>(id, $opaque);
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

/// Whether a list's best plan is the same whatever its values: true for an unfiltered list
/// (the site, its order, a keyset bound) and for the pull list's own filter (published and
/// visible at a time, which is nearly every published post), whose values are then
/// [`opaque`] so that PostgreSQL keeps one generic plan instead of planning every execution
/// again. Other filters keep their values visible: some decide the plan (see
/// [`plan_by_values`]), and the rest are rare enough not to matter.
fn plan_free(f: &PostFilter) -> bool {
    let visible = PostFilter {
        status: Some(PostStatus::Published),
        visible_at: f.visible_at,
        ..PostFilter::default()
    };
    *f == PostFilter::default() || (f.visible_at.is_some() && *f == visible)
}

/// Whether a list's best plan depends on a filter's value, so that PostgreSQL must plan it
/// with its values every time ([`crate::sql::LiteralLimit::planned_with_values`]): when the
/// value decides which index to walk. A tag (rare: read its posts, then sort them; common:
/// walk the order and probe), two equality filters (walk the rarer one's index), or a
/// filter whose index is not the list's order (a recent `updated_since` on a list by
/// creation time). A status or an author alone under the order their index has (by
/// creation or publication time), a time range on its own order, a slug (one row) and a
/// title search (no index helps) are planned alike for every value and stay prepared.
fn plan_by_values(query: &PostListQuery) -> bool {
    let (f, sort) = (&query.filter, query.sort.field);
    let equalities = usize::from(f.status.is_some()) + usize::from(f.author_id.is_some());
    !f.tags.is_empty()
        || equalities > 1
        || (f.updated_since.is_some() && sort != SortField::UpdatedAt)
        || (f.author_id.is_some() && sort != SortField::CreatedAt)
        || (f.status.is_some() && !matches!(sort, SortField::CreatedAt | SortField::PublishedAt))
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
        let plain = plan_free(f);
        let by_values = plan_by_values(query);
        let after = window.after.as_ref();
        let (rows, total) = with_conn!(store, conn => {
            let rows: Vec<PostRow> = match query.sort.field {
                SortField::CreatedAt | SortField::UpdatedAt => {
                    let bound = match after.map(|b| (&b.key, b.id)) {
                        Some((Key::Time(t), id)) => Some((naive(*t), id)),
                        Some(_) => return Err(misfit_bound()),
                        None => None,
                    };
                    let q = filtered!(site_id, f, plain);
                    let q = if query.sort.field == SortField::CreatedAt {
                        keyset!(q, posts::created_at, bound, desc, plain)
                    } else {
                        keyset!(q, posts::updated_at, bound, desc, plain)
                    };
                    conn.load_first(q.select(list_columns!(query.omit_body)).limit_literal(want).planned_with_values(by_values)).await.map_err(StoreError::from)?
                }
                SortField::Title => {
                    let bound = match after.map(|b| (&b.key, b.id)) {
                        Some((Key::Text(t), id)) => Some((t.clone(), id)),
                        Some(_) => return Err(misfit_bound()),
                        None => None,
                    };
                    let q = keyset!(filtered!(site_id, f, plain), posts::title_key, bound, desc, plain);
                    conn.load_first(q.select(list_columns!(query.omit_body)).limit_literal(want).planned_with_values(by_values)).await.map_err(StoreError::from)?
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
                        let q = filtered!(site_id, f, plain)
                            .filter(posts::published_at.ge(opaque::<Nullable<Timestamp>, _>(min_time(), plain)));
                        let q = keyset!(q, posts::published_at, bound, desc, plain);
                        rows = conn.load_first(q.select(list_columns!(query.omit_body)).limit_literal(want).planned_with_values(by_values)).await.map_err(StoreError::from)?;
                    }
                    let missing = want.saturating_sub(rows.len() as u32);
                    if missing > 0 {
                        let after_id = if in_unpublished { window.after_id() } else { None };
                        let q = unpublished!(filtered!(site_id, f, plain), after_id, desc, plain);
                        let more: Vec<PostRow> = conn.load_first(q.select(list_columns!(query.omit_body)).limit_literal(missing).planned_with_values(by_values)).await.map_err(StoreError::from)?;
                        rows.extend(more);
                    }
                    rows
                }
            };
            let total = if query.include_total {
                // Not opaque: a count's plan depends on the site's size.
                let n: i64 = filtered!(site_id, f, false).count().get_result(conn).await.map_err(StoreError::from)?;
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

    /// What PostgreSQL did with each statement prepared on the connection.
    #[derive(diesel::QueryableByName, Debug)]
    struct PlanCounts {
        #[diesel(sql_type = diesel::sql_types::Text)]
        statement: String,
        #[diesel(sql_type = BigInt)]
        generic_plans: i64,
        #[diesel(sql_type = BigInt)]
        custom_plans: i64,
    }

    async fn plan_counts(store: &Store) -> Result<Vec<PlanCounts>, StoreError> {
        Ok(with_conn!(store, conn => {
            diesel::sql_query(
                "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements",
            )
            .load(conn)
            .await?
        }))
    }

    /// On PostgreSQL an unfiltered list (first page or after a cursor, in any order) keeps
    /// one generic plan: a large site's own estimate made every custom plan look cheaper,
    /// so each execution was planned again. A list by tag is planned with its tag every
    /// time, never kept with a generic plan. One connection, so that every statement is on
    /// it.
    #[tokio::test]
    async fn lists_keep_one_plan_unless_a_value_decides_it_on_postgres() {
        use crate::testing::TestDatabase;
        use jekcms_content::list::{PostSort, SortField};
        use jekcms_content::page::Bound;
        let Some(db) = TestDatabase::new(crate::Backend::Postgres).await else {
            return;
        };
        let options = crate::StoreOptions {
            max_connections: 1,
            ..Default::default()
        };
        let store = Store::connect(db.url(), options).await.unwrap();
        let t = "'2026-01-01 00:00:00'::timestamp";
        for sql in [
            format!(
                "INSERT INTO sites (id, slug, name, created_at) VALUES (1, 'big', 'Big', {t}), (2, 'small', 'Small', {t})"
            ),
            format!(
                "INSERT INTO users (id, site_id, email, name, role, created_at, updated_at) VALUES (10, 1, 'a@example.com', 'A', 'editor', {t}, {t}), (20, 2, 'b@example.com', 'B', 'editor', {t}, {t})"
            ),
            // Site 1 has ten times the posts of site 2, with bodies, in an order unlike
            // their times (as posts written over years are): the site's own row count then
            // makes a custom plan's estimate cheaper than the generic plan's.
            format!(
                "INSERT INTO posts (site_id, author_id, title, title_key, slug, body, status, \
                 tags, published_at, created_at, updated_at, version) \
                 SELECT s, s * 10, 'P' || g, 'p' || g, 'p-' || g, repeat('x', 1000), \
                 'published', '[]', {t} + k * interval '1 minute', \
                 {t} + k * interval '1 minute', {t} + k * interval '1 minute', 1 \
                 FROM (VALUES (1, 20000), (2, 2000)) v(s, n), generate_series(1, n) g, \
                 LATERAL (SELECT g * 7919 % n + 1 AS k) p"
            ),
            "ANALYZE posts".to_owned(),
        ] {
            store.execute_for_tests(&sql).await.unwrap();
        }
        let after = |key| Window {
            limit: 20,
            after: Some(Bound { key, id: 15000 }),
        };
        let at = chrono::DateTime::from_timestamp(1_767_225_600 + 15000 * 60, 0).unwrap();
        let sorted = |field| PostListQuery {
            sort: PostSort {
                field,
                descending: true,
            },
            ..PostListQuery::default()
        };
        // The pull list's filter: published and visible now.
        let visible = PostListQuery {
            filter: jekcms_content::list::PostFilter {
                status: Some(PostStatus::Published),
                visible_at: Some(jekcms_content::now()),
                ..Default::default()
            },
            ..PostListQuery::default()
        };
        let unfiltered = [
            (sorted(SortField::CreatedAt), Window::first(20)),
            (sorted(SortField::CreatedAt), after(Key::Time(at))),
            (
                sorted(SortField::Title),
                after(Key::Text("p15000".to_owned())),
            ),
            (sorted(SortField::PublishedAt), Window::first(20)),
            (visible.clone(), Window::first(20)),
        ];
        for (query, window) in &unfiltered {
            for _ in 0..8 {
                let rows = list_posts(&store, 1, query, window).await.unwrap();
                assert_eq!(rows.items.len(), 21, "{query:?}");
            }
        }
        // Planned with their values each time (not kept): a tag; a time since which posts
        // changed, on a list by creation time. Kept, with the value visible: an author on a
        // list by creation time (the author's own index, in that order).
        let mut tagged = PostListQuery::default();
        tagged.filter.tags = vec!["rare".to_owned()];
        let mut since = PostListQuery::default();
        since.filter.updated_since = Some(at);
        let mut by_author = PostListQuery::default();
        by_author.filter.author_id = Some(10);
        for query in [&tagged, &since, &by_author] {
            for _ in 0..8 {
                list_posts(&store, 1, query, &Window::first(20))
                    .await
                    .unwrap();
            }
        }
        let counts = plan_counts(&store).await.unwrap();
        let (authors, lists): (Vec<&PlanCounts>, Vec<&PlanCounts>) = counts
            .iter()
            .filter(|c| c.statement.contains(r#"FROM "posts""#))
            .partition(|c| c.statement.contains("author_id\" = $"));
        assert_eq!(lists.len(), unfiltered.len(), "{counts:#?}");
        assert_eq!(authors.len(), 1, "{counts:#?}");
        assert!(
            !counts
                .iter()
                .any(|c| c.statement.contains("post_tags")
                    || c.statement.contains("updated_at\" >=")),
            "{counts:#?}"
        );
        let replanned: Vec<_> = lists
            .iter()
            .filter(|c| c.generic_plans < 3 || c.custom_plans > 5)
            .collect();
        assert!(replanned.is_empty(), "{replanned:#?}");
        for c in lists {
            assert!(c.statement.contains("(SELECT $"), "{c:#?}");
        }
    }
}
