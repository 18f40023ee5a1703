//! [`MediaRepository`] for both backends. Only records live here; the app stores the bytes.

use crate::activity::RecordEvents;
use crate::schema::media;
use crate::sql::KeepPreparedExt;
use crate::sql::LimitLiteral;
use crate::{Store, StoreError, naive, utc, with_conn, with_write_txn};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use jekcms_content::activity::{EventType, NewEvent, Writer};
use jekcms_content::media::{Media, MediaListQuery, NewMedia};
use jekcms_content::page::{Key, OffsetList, OffsetPage, Rows, Window};
use jekcms_content::{ContentError, MediaRepository};
use std::future::Future;

#[derive(Queryable, Selectable)]
#[diesel(table_name = media)]
struct MediaRow {
    id: i64,
    site_id: i64,
    author_id: i64,
    filename: String,
    mime_type: String,
    size_bytes: i64,
    sha256: String,
    width: Option<i32>,
    height: Option<i32>,
    alt_text: Option<String>,
    storage_key: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    public_token: String,
}

impl From<MediaRow> for Media {
    fn from(r: MediaRow) -> Self {
        let public_url = Media::public_url(&r.public_token, &r.filename);
        Media {
            id: r.id,
            site_id: r.site_id,
            author_id: r.author_id,
            filename: r.filename,
            mime_type: r.mime_type,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            width: r.width,
            height: r.height,
            alt_text: r.alt_text,
            url: Media::content_url(r.id),
            public_url,
            created_at: utc(r.created_at),
            updated_at: utc(r.updated_at),
            storage_key: r.storage_key,
        }
    }
}

impl MediaRepository for Store {
    fn create_media(
        &self,
        by: &Writer,
        m: NewMedia,
    ) -> impl Future<Output = Result<Media, ContentError>> + Send {
        let by = by.clone();
        let (site_id, author_id) = (by.site_id(), by.user_id());
        crate::boxed::<Result<Media, ContentError>>(async move {
            let at = jekcms_content::now();
            let now = naive(at);
            let row = with_write_txn!(self, MediaRow, conn => {
                let row = diesel::insert_into(media::table)
                    .values((
                        media::site_id.eq(site_id),
                        media::author_id.eq(author_id),
                        media::filename.eq(&m.filename),
                        media::mime_type.eq(&m.mime_type),
                        media::size_bytes.eq(m.size_bytes),
                        media::sha256.eq(&m.sha256),
                        media::width.eq(m.width),
                        media::height.eq(m.height),
                        media::alt_text.eq(&m.alt_text),
                        media::storage_key.eq(&m.storage_key),
                        media::created_at.eq(now),
                        media::updated_at.eq(now),
                        // 22 base62 characters: 131 bits from the OS CSPRNG.
                        media::public_token.eq(jekcms_auth::credential::random_base62(22)),
                    ))
                    .returning(MediaRow::as_returning())
                    .get_result::<MediaRow>(conn)
                    .await?;
                let created = [NewEvent::new(EventType::MediaCreated, row.id)];
                RecordEvents::record_write(conn, &by, at, &created).await?;
                Ok(row)
            })?;
            Ok(row.into())
        })
    }

    fn list_media_offset(
        &self,
        site_id: i64,
        page: OffsetPage,
    ) -> impl Future<Output = Result<OffsetList<Media>, ContentError>> + Send {
        crate::boxed::<Result<OffsetList<Media>, ContentError>>(async move {
            let offset = page.offset().min(i64::MAX as u64);
            let (rows, total) = with_conn!(self, conn => {
                let rows: Vec<MediaRow> = media::table
                    .filter(media::site_id.eq(site_id))
                    .order((media::created_at.desc(), media::id.desc()))
                    .select(MediaRow::as_select())
                    .limit_literal(page.per_page)
                    .offset_literal(offset)
                    .load(conn)
                    .await
                    .map_err(StoreError::from)?;
                let total: i64 = media::table
                    .filter(media::site_id.eq(site_id))
                    .count()
                    .get_result(conn)
                    .await
                    .map_err(StoreError::from)?;
                (rows, total)
            });
            Ok(OffsetList {
                items: rows.into_iter().map(Media::from).collect(),
                total: total as u64,
            })
        })
    }

    fn list_media(
        &self,
        site_id: i64,
        query: &MediaListQuery,
        window: &Window,
    ) -> impl Future<Output = Result<Rows<Media>, ContentError>> + Send {
        let (query, window) = (query.clone(), window.clone());
        crate::boxed::<Result<Rows<Media>, ContentError>>(async move {
            let query = &query;
            let want = window.fetch();
            let bound = match window.after {
                Some(b) => match b.key {
                    Key::Time(t) => Some((naive(t), b.id)),
                    _ => return Err(ContentError::field("cursor", "cursor is invalid")),
                },
                None => None,
            };
            let prefix = query.mime_prefix.as_ref().map(|p| format!("{p}%"));
            let (rows, total) = with_conn!(self, conn => {
                let mut q = media::table.filter(media::site_id.eq(site_id)).into_boxed();
                if let Some(p) = &prefix {
                    q = q.filter(media::mime_type.like(p.clone()));
                }
                if let Some((k, id)) = bound {
                    q = q
                        .filter(media::created_at.le(k))
                        .filter(media::created_at.lt(k).or(media::created_at.eq(k).and(media::id.lt(id))));
                }
                let rows: Vec<MediaRow> = q
                    .order((media::created_at.desc(), media::id.desc()))
                    .select(MediaRow::as_select())
                    .limit_literal(want)
                    .load(conn)
                    .await
                    .map_err(StoreError::from)?;
                let total = if query.include_total {
                    let mut c = media::table.filter(media::site_id.eq(site_id)).into_boxed();
                    if let Some(p) = &prefix {
                        c = c.filter(media::mime_type.like(p.clone()));
                    }
                    let n: i64 = c.count().get_result(conn).await.map_err(StoreError::from)?;
                    Some(n as u64)
                } else {
                    None
                };
                (rows, total)
            });
            Ok(Rows {
                items: rows.into_iter().map(Media::from).collect(),
                total,
            })
        })
    }

    fn get_media(
        &self,
        site_id: i64,
        id: i64,
    ) -> impl Future<Output = Result<Media, ContentError>> + Send {
        crate::boxed::<Result<Media, ContentError>>(async move {
            let row = with_conn!(self, conn => {
                media::table
                    .filter(media::site_id.eq(site_id))
                    .filter(media::id.eq(id))
                    .select(MediaRow::as_select())
                    .limit_literal(1).get_result::<MediaRow>(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            Ok(row.into())
        })
    }

    /// No `site_id`: see the trait. One indexed read per call (the unique index
    /// `media_public_token`) and no cache, so a deleted medium's URL is dead on the very next
    /// request, on every instance.
    fn get_media_by_public_token(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Media, ContentError>> + Send {
        let token = token.to_owned();
        crate::boxed::<Result<Media, ContentError>>(async move {
            let row = with_conn!(self, conn => {
                media::table
                    .filter(media::public_token.eq(&token))
                    .select(MediaRow::as_select())
                    .limit_literal(1).get_result::<MediaRow>(conn)
                    .await
                    .map_err(StoreError::from)?
            });
            Ok(row.into())
        })
    }

    fn update_media_alt_text(
        &self,
        by: &Writer,
        id: i64,
        alt_text: Option<String>,
    ) -> impl Future<Output = Result<Media, ContentError>> + Send {
        let by = by.clone();
        let site_id = by.site_id();
        crate::boxed::<Result<Media, ContentError>>(async move {
            let at = jekcms_content::now();
            let now = naive(at);
            let row = with_write_txn!(self, MediaRow, conn => {
                let row = diesel::update(media::table.filter(media::site_id.eq(site_id)).filter(media::id.eq(id)))
                    .set((media::alt_text.eq(&alt_text), media::updated_at.eq(now)))
                    .returning(MediaRow::as_returning())
                    .keep_prepared()
                    .get_result::<MediaRow>(conn)
                    .await?;
                let updated = [NewEvent::new(EventType::MediaUpdated, id)];
                RecordEvents::record_write(conn, &by, at, &updated).await?;
                Ok(row)
            })?;
            Ok(row.into())
        })
    }

    fn delete_media(
        &self,
        by: &Writer,
        id: i64,
    ) -> impl Future<Output = Result<Media, ContentError>> + Send {
        let by = by.clone();
        let site_id = by.site_id();
        crate::boxed::<Result<Media, ContentError>>(async move {
            let row = with_write_txn!(self, MediaRow, conn => {
                let row = diesel::delete(media::table.filter(media::site_id.eq(site_id)).filter(media::id.eq(id)))
                    .returning(MediaRow::as_returning())
                    .get_result::<MediaRow>(conn)
                    .await?;
                let deleted = [NewEvent::new(EventType::MediaDeleted, id)];
                RecordEvents::record_write(conn, &by, jekcms_content::now(), &deleted).await?;
                Ok(row)
            })?;
            Ok(row.into())
        })
    }
}

impl Store {
    /// Which of `keys` a medium's record names: the orphan sweeper's question about the
    /// objects it listed (index `media_storage_key`). Every site's media: storage keys are
    /// the store's own names, never a caller's.
    pub fn storage_keys_in_use(
        &self,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<std::collections::HashSet<String>, StoreError>> + Send {
        crate::boxed::<Result<std::collections::HashSet<String>, StoreError>>(async move {
            let found: Vec<String> = with_conn!(self, conn => {
                media::table
                    .filter(media::storage_key.eq_any(&keys))
                    .select(media::storage_key)
                    .load(conn)
                    .await?
            });
            Ok(found.into_iter().collect())
        })
    }
}
