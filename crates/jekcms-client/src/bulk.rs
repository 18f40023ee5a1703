//! `posts().bulk_create(..)`: an import in chunks of 100, each with an `Idempotency-Key`
//! derived from its content, so that running the same import again creates nothing new.

use crate::error::Error;
use crate::list::MAX_LIMIT;
use crate::posts::Posts;
use crate::transport::Call;
use crate::types::NewPost;
use jekcms_envelope::ErrorEntry;
use reqwest::Method;
use serde::{Deserialize, Serialize};

/// The most posts one bulk call takes.
pub const BULK_CHUNK: usize = MAX_LIMIT as usize;

/// The outcome of [`Posts::bulk_create`], over all chunks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkReport {
    /// Items created (by this run, or by the earlier run a chunk's response was replayed
    /// from).
    pub created: usize,
    /// Items not created.
    pub failed: usize,
    /// One entry per input item, in input order.
    pub results: Vec<BulkItem>,
    /// Chunks sent.
    pub chunks: usize,
    /// Chunks whose response the server replayed from an earlier call with the same
    /// content: their posts existed already and nothing was created for them now.
    pub replayed_chunks: usize,
}

/// The outcome of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    /// The item's position in the whole input (not in its chunk).
    pub index: usize,
    /// The created post's id.
    pub id: Option<i64>,
    /// Why it was not created; fields are named by the position in the whole input, e.g.
    /// `posts[250].title`.
    pub errors: Vec<ErrorEntry>,
}

#[derive(Serialize)]
struct Body<'a> {
    posts: &'a [NewPost],
}

#[derive(Deserialize)]
struct Data {
    created: usize,
    failed: usize,
    results: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    id: Option<i64>,
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

/// The `Idempotency-Key` of a chunk: the SHA-256 of the exact body sent.
pub(crate) fn chunk_key(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    format!("jekcms-bulk-{}", hex::encode(digest.as_ref()))
}

/// `posts[3].title` in a chunk starting at `offset` → `posts[{offset + 3}].title`.
fn renumber(field: &str, offset: usize) -> String {
    let Some(rest) = field.strip_prefix("posts[") else {
        return field.to_owned();
    };
    let Some((n, tail)) = rest.split_once(']') else {
        return field.to_owned();
    };
    match n.parse::<usize>() {
        Ok(n) => format!("posts[{}]{tail}", n + offset),
        Err(_) => field.to_owned(),
    }
}

impl Posts {
    /// Creates many posts through `POST /api/v2/bulk/posts`, 100 a call.
    ///
    /// Each chunk is sent with an `Idempotency-Key` made from the SHA-256 of its content,
    /// so that within the server's 24-hour idempotency window running the same import
    /// again — after a crash, or to be sure — creates nothing twice: the server replays
    /// each chunk's first answer. Invalid items are reported per item in
    /// [`BulkReport::results`] and do not stop the import. A chunk that fails as a whole
    /// (e.g. `FORBIDDEN` for a role below editor) stops it with that error; the chunks
    /// before it are created, and running the import again resumes it.
    pub async fn bulk_create<I>(&self, posts: I) -> Result<BulkReport, Error>
    where
        I: IntoIterator<Item = NewPost>,
    {
        let mut report = BulkReport::default();
        let mut posts = posts.into_iter().peekable();
        let mut offset = 0;
        while posts.peek().is_some() {
            let chunk: Vec<NewPost> = posts.by_ref().take(BULK_CHUNK).collect();
            let body = serde_json::to_vec(&Body { posts: &chunk }).expect("posts serialize");
            let call = Call::new(Method::POST, "/api/v2/bulk/posts")
                .idempotency_key(chunk_key(&body))
                .raw_json(body);
            let decoded = self.client.inner.send(&call).await?.decode::<Data>()?;
            report.chunks += 1;
            report.replayed_chunks += usize::from(decoded.replayed);
            report.created += decoded.data.created;
            report.failed += decoded.data.failed;
            report
                .results
                .extend(decoded.data.results.into_iter().map(|item| {
                    BulkItem {
                        index: item.index + offset,
                        id: item.id,
                        errors: item
                            .errors
                            .into_iter()
                            .map(|mut e| {
                                e.field = e.field.map(|f| renumber(&f, offset));
                                e
                            })
                            .collect(),
                    }
                }));
            offset += chunk.len();
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_the_content_only() {
        let body = |title: &str| {
            serde_json::to_vec(&Body {
                posts: &[NewPost::new(title)],
            })
            .unwrap()
        };
        assert_eq!(chunk_key(&body("a")), chunk_key(&body("a")));
        assert_ne!(chunk_key(&body("a")), chunk_key(&body("b")));
        let key = chunk_key(&body("a"));
        assert!(key.len() <= 255 && key.starts_with("jekcms-bulk-"), "{key}");
    }

    #[test]
    fn fields_are_renumbered_to_the_whole_input() {
        assert_eq!(renumber("posts[3].title", 200), "posts[203].title");
        assert_eq!(renumber("posts[0]", 100), "posts[100]");
        assert_eq!(renumber("posts", 100), "posts");
        assert_eq!(renumber("posts[x].title", 100), "posts[x].title");
    }
}
