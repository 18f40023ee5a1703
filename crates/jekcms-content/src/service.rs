//! Content operations as a caller performs them: the role check from
//! [`jekcms_auth::policy`] first, then the repository call. Handlers call these, never the
//! repository directly, so no endpoint can forget a check.

use crate::ContentError;
use crate::activity::{ActivityQuery, Event, Writer};
use crate::bulk::{BulkItem, BulkOutcome, ItemFault, ItemOutcome, slug_conflict, unknown_author};
use crate::idempotency::Record;
use crate::list::PostListQuery;
use crate::media::{Media, MediaListQuery, NewMedia};
use crate::page::{OffsetList, OffsetPage, Rows, Window};
use crate::post::{NewPost, Post, PostPatch};
use crate::repo::{ActivityRepository, MediaRepository, PostRepository};
use jekcms_auth::Action;

pub use jekcms_auth::policy::Actor;

/// Lists posts: the rows of one window, for [`crate::ListRequest::page`] to cut.
pub async fn list_posts<R: PostRepository>(
    repo: &R,
    actor: &Actor,
    query: &PostListQuery,
    window: &Window,
) -> Result<Rows<Post>, ContentError> {
    actor.require(Action::ReadContent, false)?;
    repo.list_posts(actor.site_id, query, window).await
}

/// Lists posts the legacy way (v1): an offset page and the total.
pub async fn list_posts_offset<R: PostRepository>(
    repo: &R,
    actor: &Actor,
    page: OffsetPage,
) -> Result<OffsetList<Post>, ContentError> {
    actor.require(Action::ReadContent, false)?;
    repo.list_posts_offset(actor.site_id, page).await
}

/// Lists media the legacy way (v1).
pub async fn list_media_offset<R: MediaRepository>(
    repo: &R,
    actor: &Actor,
    page: OffsetPage,
) -> Result<OffsetList<Media>, ContentError> {
    actor.require(Action::ReadContent, false)?;
    repo.list_media_offset(actor.site_id, page).await
}

/// Imports a batch of posts authored by the actor (editor and above), or by the user of
/// the site an item names (`author_id`; an item naming no user of the site is invalid).
/// Valid items are created in one transaction; invalid ones, and ones whose slug is taken, are reported in
/// their place. With `atomic`, any invalid item fails the call with every item's errors
/// (`Validation`) and any taken slug with `Conflicts`; nothing is created. With `record`,
/// the outcome's response is stored in the import's transaction.
pub async fn bulk_create_posts<R: PostRepository>(
    repo: &R,
    by: &Writer,
    items: Vec<BulkItem>,
    atomic: bool,
    record: Option<Record<'_, BulkOutcome>>,
) -> Result<BulkOutcome, ContentError> {
    by.actor.require(Action::BulkImport, false)?;
    // Items naming an author that is not a user of the site are invalid.
    let mut named: Vec<i64> = items
        .iter()
        .filter_map(|item| item.as_ref().ok()?.author_id)
        .filter(|&id| id != by.actor.user_id)
        .collect();
    named.sort_unstable();
    named.dedup();
    let known = if named.is_empty() {
        std::collections::HashSet::new()
    } else {
        repo.site_user_ids(by.actor.site_id, named).await?
    };
    let items: Vec<BulkItem> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Ok(post) => match post.author_id {
                Some(id) if id != by.actor.user_id && !known.contains(&id) => {
                    Err(vec![unknown_author(i, id)])
                }
                _ => Ok(post),
            },
            Err(e) => Err(e),
        })
        .collect();
    if atomic && items.iter().any(Result::is_err) {
        let errors = items
            .into_iter()
            .filter_map(Result::err)
            .flatten()
            .collect();
        return Err(ContentError::Validation(errors));
    }
    let mut results: Vec<ItemOutcome> = Vec::with_capacity(items.len());
    let mut valid = Vec::new();
    let mut valid_at = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Ok(post) => {
                valid_at.push(i);
                valid.push(post);
                results.push(ItemOutcome::Created(0));
            }
            Err(errors) => results.push(ItemOutcome::Failed(
                errors.into_iter().map(ItemFault::Invalid).collect(),
            )),
        }
    }
    let slugs: Vec<Option<String>> = valid.iter().map(|p| p.post.slug.clone()).collect();
    // The outcome from the store's answer: run inside the transaction for `record`, and
    // again for the caller.
    let assemble = |ids: &[Option<i64>]| -> Result<BulkOutcome, ContentError> {
        let mut results = results.clone();
        let mut conflicts = Vec::new();
        for ((&i, id), slug) in valid_at.iter().zip(ids).zip(&slugs) {
            results[i] = match id {
                Some(id) => ItemOutcome::Created(*id),
                None => {
                    let fault = slug_conflict(i, slug.as_deref().unwrap_or_default());
                    if let ItemFault::Conflict(e) = &fault {
                        conflicts.push(e.clone());
                    }
                    ItemOutcome::Failed(vec![fault])
                }
            };
        }
        if atomic && !conflicts.is_empty() {
            return Err(ContentError::Conflicts(conflicts));
        }
        Ok(BulkOutcome { results })
    };
    let ids = if valid.is_empty() {
        Vec::new()
    } else {
        let render = |ids: &[Option<i64>]| record?.response(&assemble(ids).ok()?);
        let record = record.map(|r| r.map::<[Option<i64>]>(&render));
        repo.create_posts(by, valid, atomic, record).await?
    };
    assemble(&ids)
}

/// Reads one post.
pub async fn get_post<R: PostRepository>(
    repo: &R,
    actor: &Actor,
    id: i64,
) -> Result<Post, ContentError> {
    actor.require(Action::ReadContent, false)?;
    repo.get_post(actor.site_id, id).await
}

/// Creates a post authored by the actor; with `record`, its response is stored in the
/// same transaction.
pub async fn create_post<R: PostRepository>(
    repo: &R,
    by: &Writer,
    post: NewPost,
    record: Option<Record<'_, Post>>,
) -> Result<Post, ContentError> {
    by.actor.require(Action::CreateContent, false)?;
    repo.create_post(by, post, record).await
}

/// Patches a post; `if_match` is the ETag the client holds, if it sent one.
pub async fn update_post<R: PostRepository>(
    repo: &R,
    by: &Writer,
    id: i64,
    patch: PostPatch,
    if_match: Option<&str>,
) -> Result<Post, ContentError> {
    let actor = &by.actor;
    let current = repo.get_post(actor.site_id, id).await?;
    actor.require(Action::ChangeContent, current.author_id == actor.user_id)?;
    let expected = match if_match {
        None => None,
        Some(tag) if etag_matches(tag, &current.etag()) => Some(current.version),
        Some(_) => return Err(ContentError::PreconditionFailed),
    };
    repo.update_post(by, id, patch, expected).await
}

/// Deletes a post.
pub async fn delete_post<R: PostRepository>(
    repo: &R,
    by: &Writer,
    id: i64,
) -> Result<(), ContentError> {
    let actor = &by.actor;
    let current = repo.get_post(actor.site_id, id).await?;
    actor.require(Action::ChangeContent, current.author_id == actor.user_id)?;
    repo.delete_post(by, id).await
}

/// Lists the site's activity log (admins and owners): the rows of one window.
pub async fn list_activity<R: ActivityRepository>(
    repo: &R,
    actor: &Actor,
    query: &ActivityQuery,
    window: &Window,
) -> Result<Rows<Event>, ContentError> {
    actor.require(Action::ReadActivity, false)?;
    repo.list_activity(actor.site_id, query, window).await
}

/// Checks that the actor may upload, before the bytes are read.
pub fn may_upload(actor: &Actor) -> Result<(), ContentError> {
    Ok(actor.require(Action::CreateContent, false)?)
}

/// Checks, before a request body is read, that the actor may create or change content at
/// all (its own, at least). The operation itself checks again, ownership included; this only
/// spares reading and parsing the body of a caller who could never succeed.
pub fn may_write(actor: &Actor) -> Result<(), ContentError> {
    Ok(actor.require(Action::ChangeContent, true)?)
}

/// Checks, before the body is read, that the actor may bulk import.
pub fn may_bulk_import(actor: &Actor) -> Result<(), ContentError> {
    Ok(actor.require(Action::BulkImport, false)?)
}

/// Records an uploaded medium.
pub async fn create_media<R: MediaRepository>(
    repo: &R,
    by: &Writer,
    media: NewMedia,
) -> Result<Media, ContentError> {
    by.actor.require(Action::CreateContent, false)?;
    repo.create_media(by, media).await
}

/// Lists media: the rows of one window, for [`crate::ListRequest::page`] to cut.
pub async fn list_media<R: MediaRepository>(
    repo: &R,
    actor: &Actor,
    query: &MediaListQuery,
    window: &Window,
) -> Result<Rows<Media>, ContentError> {
    actor.require(Action::ReadContent, false)?;
    repo.list_media(actor.site_id, query, window).await
}

/// Reads one medium.
pub async fn get_media<R: MediaRepository>(
    repo: &R,
    actor: &Actor,
    id: i64,
) -> Result<Media, ContentError> {
    actor.require(Action::ReadContent, false)?;
    repo.get_media(actor.site_id, id).await
}

/// The medium a public URL `/m/{token}/{filename}` names, for anyone: no actor, the token is
/// the capability. A token that cannot be one is not looked up; a file name other than the
/// medium's own is `NotFound` too, so that each medium has exactly one public URL (caches
/// keep one copy, and a link cannot be made to show another name).
pub async fn get_public_media<R: MediaRepository>(
    repo: &R,
    token: &str,
    filename: &str,
) -> Result<Media, ContentError> {
    if !crate::media::is_public_token(token) {
        return Err(ContentError::NotFound);
    }
    let media = repo.get_media_by_public_token(token).await?;
    if media.filename != filename {
        return Err(ContentError::NotFound);
    }
    Ok(media)
}

/// Changes a medium's alt text.
pub async fn update_media_alt_text<R: MediaRepository>(
    repo: &R,
    by: &Writer,
    id: i64,
    alt_text: Option<String>,
) -> Result<Media, ContentError> {
    let actor = &by.actor;
    let current = repo.get_media(actor.site_id, id).await?;
    actor.require(Action::ChangeContent, current.author_id == actor.user_id)?;
    repo.update_media_alt_text(by, id, alt_text).await
}

/// Deletes a medium's record and returns it, so the caller removes the bytes.
pub async fn delete_media<R: MediaRepository>(
    repo: &R,
    by: &Writer,
    id: i64,
) -> Result<Media, ContentError> {
    let actor = &by.actor;
    let current = repo.get_media(actor.site_id, id).await?;
    actor.require(Action::ChangeContent, current.author_id == actor.user_id)?;
    repo.delete_media(by, id).await
}

/// RFC 9110 `If-Match`: `*` or a list of entity tags, compared strongly.
pub fn etag_matches(header: &str, current: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == current)
}

/// RFC 9110 `If-None-Match`: `*` or a list of tags, compared weakly.
pub fn etag_none_match_hits(header: &str, current: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    header
        .split(',')
        .any(|t| t.trim() == "*" || bare(t) == bare(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etag_comparisons() {
        assert!(etag_matches("\"1-2\"", "\"1-2\""));
        assert!(etag_matches("\"x\", \"1-2\"", "\"1-2\""));
        assert!(etag_matches("*", "\"1-2\""));
        assert!(!etag_matches("W/\"1-2\"", "\"1-2\""));
        assert!(etag_none_match_hits("W/\"1-2\"", "\"1-2\""));
        assert!(!etag_none_match_hits("\"1-3\"", "\"1-2\""));
    }

    use jekcms_auth::Role;

    /// A repository that only imports: ids from 100 on, and refuses the slug `taken`.
    #[derive(Default)]
    struct Importer(std::sync::Mutex<Vec<(usize, bool)>>);

    impl PostRepository for Importer {
        async fn list_posts(
            &self,
            _: i64,
            _: &PostListQuery,
            _: &Window,
        ) -> Result<Rows<Post>, ContentError> {
            Err(ContentError::NotFound)
        }
        async fn list_posts_offset(
            &self,
            _: i64,
            _: OffsetPage,
        ) -> Result<OffsetList<Post>, ContentError> {
            Err(ContentError::NotFound)
        }
        async fn get_post(&self, _: i64, _: i64) -> Result<Post, ContentError> {
            Err(ContentError::NotFound)
        }
        async fn create_post(
            &self,
            _: &Writer,
            _: NewPost,
            _: Option<Record<'_, Post>>,
        ) -> Result<Post, ContentError> {
            Err(ContentError::NotFound)
        }
        async fn site_user_ids(
            &self,
            _: i64,
            ids: Vec<i64>,
        ) -> Result<std::collections::HashSet<i64>, ContentError> {
            // Users 1 (the caller) and 2 are of the site.
            Ok(ids.into_iter().filter(|&id| id <= 2).collect())
        }
        async fn create_posts(
            &self,
            _: &Writer,
            posts: Vec<crate::bulk::BulkPost>,
            atomic: bool,
            _: Option<Record<'_, [Option<i64>]>>,
        ) -> Result<Vec<Option<i64>>, ContentError> {
            self.0.lock().unwrap().push((posts.len(), atomic));
            let ids = posts
                .iter()
                .enumerate()
                .map(|(i, p)| (p.post.slug.as_deref() != Some("taken")).then_some(100 + i as i64))
                .collect();
            Ok(ids)
        }
        async fn update_post(
            &self,
            _: &Writer,
            _: i64,
            _: PostPatch,
            _: Option<i64>,
        ) -> Result<Post, ContentError> {
            Err(ContentError::NotFound)
        }
        async fn delete_post(&self, _: &Writer, _: i64) -> Result<(), ContentError> {
            Err(ContentError::NotFound)
        }
    }

    fn actor(role: Role) -> Writer {
        Writer {
            actor: Actor {
                user_id: 1,
                site_id: 1,
                role,
            },
            family: crate::activity::ActorFamily::Api,
            key_id: None,
            request_id: None,
        }
    }

    fn items() -> Vec<BulkItem> {
        crate::bulk::parse_bulk(serde_json::json!({"posts": [
            {"title": "a"}, {"title": ""}, {"title": "c", "slug": "taken"}, {"title": "d"},
        ]}))
        .unwrap()
    }

    #[tokio::test]
    async fn bulk_results_keep_input_positions() {
        let repo = Importer::default();
        let out = bulk_create_posts(&repo, &actor(Role::Editor), items(), false, None)
            .await
            .unwrap();
        assert_eq!(
            *repo.0.lock().unwrap(),
            [(3, false)],
            "only valid items reach the store"
        );
        assert_eq!(out.results[0], ItemOutcome::Created(100));
        assert!(
            matches!(&out.results[1], ItemOutcome::Failed(f) if matches!(&f[0], ItemFault::Invalid(e) if e.field == "posts[1].title"))
        );
        assert!(
            matches!(&out.results[2], ItemOutcome::Failed(f) if matches!(&f[0], ItemFault::Conflict(e) if e.field == "posts[2].slug"))
        );
        assert_eq!(out.results[3], ItemOutcome::Created(102));
        assert_eq!((out.created(), out.failed()), (2, 2));
    }

    #[tokio::test]
    async fn a_named_author_must_be_a_user_of_the_site() {
        let repo = Importer::default();
        let items = crate::bulk::parse_bulk(serde_json::json!({"posts": [
            {"title": "a", "author_id": 2}, {"title": "b", "author_id": 3}, {"title": "c", "author_id": 1},
        ]}))
        .unwrap();
        let out = bulk_create_posts(&repo, &actor(Role::Editor), items.clone(), false, None)
            .await
            .unwrap();
        assert_eq!(*repo.0.lock().unwrap(), [(2, false)]);
        assert_eq!(out.results[0], ItemOutcome::Created(100));
        assert!(
            matches!(&out.results[1], ItemOutcome::Failed(f) if matches!(&f[0], ItemFault::Invalid(e) if e.field == "posts[1].author_id"))
        );
        assert_eq!(out.results[2], ItemOutcome::Created(101));
        match bulk_create_posts(&repo, &actor(Role::Editor), items, true, None).await {
            Err(ContentError::Validation(e)) => assert_eq!(e[0].field, "posts[1].author_id"),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn atomic_bulk_refuses_before_the_store_and_authors_may_not_import() {
        let repo = Importer::default();
        match bulk_create_posts(&repo, &actor(Role::Owner), items(), true, None).await {
            Err(ContentError::Validation(e)) => assert_eq!(e[0].field, "posts[1].title"),
            other => panic!("{other:?}"),
        }
        assert!(repo.0.lock().unwrap().is_empty());
        match bulk_create_posts(&repo, &actor(Role::Author), items(), false, None).await {
            Err(ContentError::Forbidden(m)) => assert_eq!(m, "the author role may not bulk import"),
            other => panic!("{other:?}"),
        }
        assert!(repo.0.lock().unwrap().is_empty());
    }
}
