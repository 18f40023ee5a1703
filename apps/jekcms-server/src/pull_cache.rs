//! The pull API's cache of ready-to-send pages (API.md §9), in process.
//!
//! A page is kept under (site, the site's content version, the request's path and query)
//! and holds the serialized envelope cut around its `meta.request_id`, so a hit writes
//! head, the request's id and tail, and runs no query and no serializer.
//!
//! Why it is never stale: every write to a site's posts or media bumps the site's content
//! version in its own transaction, and every pull request reads the version (with the key,
//! in one indexed read) before it looks here. A page made under an older version is simply
//! never asked for again, and ages out. The visible set also changes without a write when a
//! scheduled post's time comes: a page remembers the site's next scheduled publication at
//! the time it was made and is not served from that moment on.
//!
//! With a pull lease (`JEKCMS_PULL_LEASE_MS` = L, off by default) an instance skips that
//! read for L after it: a key's site read by a query sent at instant t is trusted until
//! t + L, and every write (through any API, or the operator's `jekcms sites set`) is
//! answered only L after it committed (`context::mark_write`). So once a writer has been
//! told its write is done, every lease taken before the commit has run out on every instance
//! (each measures L on its own monotonic clock), and the next request reads again: still no
//! stale page after a write, for the price of L on every write's answer. A lease also ends
//! at the site's next scheduled publication and at the key's end of validity.
//!
//! The cache is bounded by bytes (`JEKCMS_PULL_CACHE_BYTES`, default 64 MiB; 0 turns it off),
//! evicting with quick_cache's CLOCK-Pro, and counts its hits and misses for `/metrics` and
//! the benchmark.

use actix_web::web::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use jekcms_content::pull::PullSite;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Where a page is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The site.
    pub site_id: i64,
    /// The site's content version the page was made under.
    pub content_version: i64,
    /// The request's path and query string, as sent.
    pub request: Box<str>,
}

/// A ready-to-send page.
#[derive(Debug)]
pub struct CachedPage {
    /// The envelope up to the request id's value.
    pub head: Bytes,
    /// The envelope after the request id's value.
    pub tail: Bytes,
    /// The page's entity tag (weak: the request id differs between responses).
    pub etag: String,
    /// When the page stops being exact: the next scheduled publication it did not show.
    pub fresh_until: Option<DateTime<Utc>>,
    /// Its gzip form, made on the first request that accepts gzip (`None`: not worth it).
    gzipped: std::sync::OnceLock<Option<Gzipped>>,
}

/// A page compressed once, around the request id: a gzip header and the head's deflate
/// blocks (flushed to a byte boundary), then per request a stored block holding the request
/// id, then the tail's deflate blocks (the last one final) and the trailer. Deflate blocks
/// made separately may follow one another once the first stream ends on a byte boundary;
/// the trailer's CRC-32 is combined from the three parts' CRCs. Browsers and Node's
/// `fetch` ask for gzip on every request: this keeps a cached page from being compressed
/// again for each of them.
#[derive(Debug)]
struct Gzipped {
    head: Bytes,
    tail: Bytes,
    head_crc: crc32fast::Hasher,
    tail_crc: crc32fast::Hasher,
    plain_len: usize,
}

impl Gzipped {
    fn of(head: &[u8], tail: &[u8]) -> Option<Self> {
        use flate2::{Compress, Compression, FlushCompress};
        let deflate = |input: &[u8], flush: FlushCompress| -> Option<Vec<u8>> {
            let mut c = Compress::new(Compression::new(crate::compress::LEVEL), false);
            let mut out = Vec::with_capacity(input.len() / 2 + 128);
            loop {
                let consumed = usize::try_from(c.total_in()).ok()?;
                let status = c.compress_vec(&input[consumed..], &mut out, flush).ok()?;
                let done = usize::try_from(c.total_in()).ok()? == input.len();
                match status {
                    flate2::Status::StreamEnd => return Some(out),
                    _ if done && flush != FlushCompress::Finish && out.len() < out.capacity() => {
                        return Some(out);
                    }
                    _ => out.reserve(out.capacity().max(1024)),
                }
            }
        };
        // The gzip header (RFC 1952): deflate, no name or time, unknown OS.
        let mut gz_head = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        gz_head.extend(deflate(head, FlushCompress::Sync)?);
        let gz_tail = deflate(tail, FlushCompress::Finish)?;
        let plain_len = head.len() + tail.len();
        if gz_head.len() + gz_tail.len() + 64 >= plain_len {
            return None;
        }
        let crc = |bytes: &[u8]| {
            let mut h = crc32fast::Hasher::new();
            h.update(bytes);
            h
        };
        Some(Self {
            head_crc: crc(head),
            tail_crc: crc(tail),
            head: Bytes::from(gz_head),
            tail: Bytes::from(gz_tail),
            plain_len,
        })
    }

    fn body(&self, request_id: &str) -> Option<Bytes> {
        let id = request_id.as_bytes();
        let len = u16::try_from(id.len()).ok()?;
        let mut crc = self.head_crc.clone();
        crc.update(id);
        crc.combine(&self.tail_crc);
        let total = self.plain_len + id.len();
        let mut body =
            BytesMut::with_capacity(self.head.len() + 5 + id.len() + self.tail.len() + 8);
        body.extend_from_slice(&self.head);
        // A stored block, not final: its 3 header bits, padding to the byte, LEN, NLEN.
        body.extend_from_slice(&[0]);
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(&(!len).to_le_bytes());
        body.extend_from_slice(id);
        body.extend_from_slice(&self.tail);
        body.extend_from_slice(&crc.finalize().to_le_bytes());
        body.extend_from_slice(&(total as u32).to_le_bytes());
        Some(body.freeze())
    }
}

impl CachedPage {
    /// A page of `head` and `tail` (see [`split_at_request_id`]).
    pub fn new(head: Bytes, tail: Bytes, fresh_until: Option<DateTime<Utc>>) -> Self {
        Self {
            etag: etag_of(&head, &tail),
            head,
            tail,
            fresh_until,
            gzipped: std::sync::OnceLock::new(),
        }
    }

    /// The body gzipped, with `request_id` in its place; `None` when the page does not
    /// shrink enough to be worth it.
    pub fn gzip_body(&self, request_id: &str) -> Option<Bytes> {
        self.gzipped
            .get_or_init(|| Gzipped::of(&self.head, &self.tail))
            .as_ref()?
            .body(request_id)
    }

    /// Whether the page may be served at `now`.
    pub fn is_fresh(&self, now: DateTime<Utc>) -> bool {
        self.fresh_until.is_none_or(|t| now < t)
    }

    /// The body, with `request_id` in its place.
    pub fn body(&self, request_id: &str) -> Bytes {
        let mut body =
            BytesMut::with_capacity(self.head.len() + request_id.len() + self.tail.len());
        body.extend_from_slice(&self.head);
        body.extend_from_slice(request_id.as_bytes());
        body.extend_from_slice(&self.tail);
        body.freeze()
    }
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<PageKey, Arc<CachedPage>> for ByBytes {
    fn weight(&self, key: &PageKey, page: &Arc<CachedPage>) -> u64 {
        // The bytes held, plus what a key and an entry cost besides.
        (key.request.len() + page.head.len() + page.tail.len() + page.etag.len() + 128) as u64
    }
}

/// The cache, shared by every worker of an instance.
pub struct PullCache {
    pages: Option<quick_cache::sync::Cache<PageKey, Arc<CachedPage>, ByBytes>>,
    /// Pull keys accepted here (by hash), with their site as last read and when: a key's
    /// site never changes, so a request with a known key can read its page together with
    /// the key's check (`pull_auth::PullKey::read_with`), and under a lease it need not
    /// check the key at all.
    keys: quick_cache::sync::Cache<[u8; 32], KnownKey>,
    /// How long a key's site is trusted after the query that read it was sent (zero: not
    /// at all).
    lease: Duration,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What an accepted pull key told when it was last read here.
#[derive(Debug, Clone)]
pub struct KnownKey {
    /// The key's site, its content version and the rest, as read.
    pub site: PullSite,
    /// When the query that read it was sent.
    sent: Instant,
}

/// How many pull keys are remembered (a few dozen bytes each).
const KNOWN_KEYS: usize = 4096;

impl std::fmt::Debug for PullCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullCache")
            .field("enabled", &self.pages.is_some())
            .finish_non_exhaustive()
    }
}

/// A typical page's weight, to size the cache's tables.
const TYPICAL_PAGE_BYTES: u64 = 16 * 1024;

impl PullCache {
    /// A cache holding at most `max_bytes` (0: nothing is cached), trusting a key's site
    /// for `lease` after reading it (zero: every request reads it).
    pub fn new(max_bytes: u64, lease: Duration) -> Self {
        let pages = (max_bytes > 0).then(|| {
            let items = (max_bytes / TYPICAL_PAGE_BYTES).clamp(16, 1 << 20) as usize;
            quick_cache::sync::Cache::with_weighter(items, max_bytes, ByBytes)
        });
        Self {
            pages,
            keys: quick_cache::sync::Cache::new(KNOWN_KEYS),
            lease,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Whether a page is kept under `key` (counts nothing).
    pub fn holds(&self, key: &PageKey) -> bool {
        self.pages.as_ref().is_some_and(|p| p.contains_key(key))
    }

    /// What the key with this hash told when last accepted here.
    pub fn known_key(&self, hash: &[u8; 32]) -> Option<KnownKey> {
        self.keys.get(hash)
    }

    /// Remembers what a key's read told, by a query sent at `sent` (taken before the query
    /// went out, so that a lease never outlives a write the read may have missed). Written
    /// when it tells something new, or to renew the lease.
    pub fn remember_key(&self, hash: [u8; 32], site: &PullSite, sent: Instant) {
        if !self.lease.is_zero() || self.keys.get(&hash).is_none_or(|k| k.site != *site) {
            let site = site.clone();
            self.keys.insert(hash, KnownKey { site, sent });
        }
    }

    /// Forgets a key that was refused.
    pub fn forget_key(&self, hash: &[u8; 32]) {
        self.keys.remove(hash);
    }

    /// Whether this instance holds a lease on a known key's site at `now`: its time has not
    /// run out, nor has the site's next scheduled publication or the key's end come.
    pub fn lease_holds(&self, known: &KnownKey, now: DateTime<Utc>) -> bool {
        !self.lease.is_zero()
            && Instant::now() < known.sent + self.lease
            && known.site.next_scheduled.is_none_or(|t| now < t)
            && known.site.key_valid_until.is_none_or(|t| now < t)
    }

    /// The page under `key` if it may be served at `now`; counts a hit or a miss.
    pub fn get(&self, key: &PageKey, now: DateTime<Utc>) -> Option<Arc<CachedPage>> {
        let page = self
            .pages
            .as_ref()?
            .get(key)
            .filter(|page| page.is_fresh(now));
        let counter = if page.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        page
    }

    /// Keeps `page` under `key`.
    pub fn insert(&self, key: PageKey, page: Arc<CachedPage>) {
        if let Some(pages) = &self.pages {
            pages.insert(key, page);
        }
    }

    /// Hits and misses so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Bytes held now.
    pub fn weight(&self) -> u64 {
        self.pages.as_ref().map_or(0, |p| p.weight())
    }
}

/// Stands for the request id while a page is serialized; cut out by [`split_at_request_id`]. Content
/// cannot forge it where it matters: `meta` comes after `data`, and the last occurrence is
/// the one cut.
pub const REQUEST_ID_MARK: &str = "\u{1}jekcms-request-id\u{1}";

/// Cuts a serialized envelope at its request id mark: (head, tail). `None` if the mark is
/// missing (a bug: the caller then sends the body as it is).
pub fn split_at_request_id(body: Vec<u8>) -> Option<(Bytes, Bytes)> {
    // The mark as serde_json writes it inside a string.
    const ESCAPED: &[u8] = b"\\u0001jekcms-request-id\\u0001";
    let at = body.windows(ESCAPED.len()).rposition(|w| w == ESCAPED)?;
    let mut head = Bytes::from(body);
    let tail = head.split_off(at).slice(ESCAPED.len()..);
    Some((head, tail))
}

/// A weak entity tag for a page: a hash of its bytes (the request id excluded).
pub fn etag_of(head: &[u8], tail: &[u8]) -> String {
    crate::conditional::weak_etag("", &[head, tail])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_last_mark_and_puts_the_id_back() {
        let envelope = serde_json::json!({
            "data": [{"title": REQUEST_ID_MARK}],
            "meta": {"request_id": REQUEST_ID_MARK},
        });
        let (head, tail) = split_at_request_id(serde_json::to_vec(&envelope).unwrap()).unwrap();
        let page = CachedPage::new(head, tail, None);
        let body: serde_json::Value = serde_json::from_slice(&page.body("abc")).unwrap();
        assert_eq!(body["meta"]["request_id"], "abc");
        assert_eq!(body["data"][0]["title"], REQUEST_ID_MARK);
        assert!(split_at_request_id(b"{}".to_vec()).is_none());
    }

    #[test]
    fn the_gzip_form_is_one_valid_stream_for_every_request_id() {
        use std::io::Read;
        let posts: Vec<_> = (0..40)
            .map(|i| serde_json::json!({"id": i, "title": format!("Post number {i}"), "tags": ["rust", "cms"]}))
            .collect();
        let envelope = serde_json::json!({"data": posts, "meta": {"request_id": REQUEST_ID_MARK}});
        let plain_len = serde_json::to_vec(&envelope).unwrap().len();
        let (head, tail) = split_at_request_id(serde_json::to_vec(&envelope).unwrap()).unwrap();
        let page = CachedPage::new(head, tail, None);
        for id in ["a", "5f0c2a9e41d7b3c86a1e0f47", &"x".repeat(64)] {
            let gz = page.gzip_body(id).unwrap();
            assert!(gz.len() < plain_len / 3, "{} of {plain_len}", gz.len());
            let mut back = Vec::new();
            // GzDecoder checks the CRC-32 and the length of the trailer.
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, page.body(id));
        }
        // A tiny page is not worth it.
        let (head, tail) = split_at_request_id(
            serde_json::to_vec(&serde_json::json!({"meta": {"request_id": REQUEST_ID_MARK}}))
                .unwrap(),
        )
        .unwrap();
        assert!(CachedPage::new(head, tail, None).gzip_body("a").is_none());
    }

    #[test]
    fn pages_expire_at_the_next_scheduled_publication() {
        let now = jekcms_content::now();
        let page = CachedPage::new(
            Bytes::new(),
            Bytes::new(),
            Some(now + chrono::Duration::seconds(1)),
        );
        assert!(page.is_fresh(now));
        assert!(!page.is_fresh(now + chrono::Duration::seconds(1)));
    }

    #[test]
    fn a_lease_ends_with_its_time_the_next_publication_or_the_key() {
        let now = jekcms_content::now();
        let site = |next: Option<i64>, key_until: Option<i64>| PullSite {
            site_id: 1,
            api_access: true,
            plan: jekcms_auth::Plan::Unlimited,
            content_version: 7,
            key_valid_until: key_until.map(|s| now + chrono::Duration::seconds(s)),
            next_scheduled: next.map(|s| now + chrono::Duration::seconds(s)),
        };
        let lease = Duration::from_secs(60);
        let cache = PullCache::new(0, lease);
        let leased = |cache: &PullCache, hash: &[u8; 32], at| {
            cache
                .known_key(hash)
                .filter(|k| cache.lease_holds(k, at))
                .map(|k| k.site)
        };
        let (a, b, c, d) = ([1; 32], [2; 32], [3; 32], [4; 32]);
        cache.remember_key(a, &site(None, None), Instant::now());
        cache.remember_key(b, &site(Some(10), None), Instant::now());
        cache.remember_key(c, &site(None, Some(10)), Instant::now());
        // Read by a query sent longer ago than the lease.
        cache.remember_key(d, &site(None, None), Instant::now() - lease);
        assert_eq!(leased(&cache, &a, now), Some(site(None, None)));
        assert!(leased(&cache, &b, now).is_some() && leased(&cache, &c, now).is_some());
        let later = now + chrono::Duration::seconds(10);
        assert!(leased(&cache, &a, later).is_some());
        assert!(
            leased(&cache, &b, later).is_none(),
            "the next publication ends it"
        );
        assert!(leased(&cache, &c, later).is_none(), "the key's end ends it");
        assert!(leased(&cache, &d, now).is_none(), "its time is up");
        assert!(leased(&cache, &[5; 32], now).is_none());
        cache.forget_key(&a);
        assert!(
            leased(&cache, &a, now).is_none(),
            "a refused key loses its lease"
        );
        // Without a lease the key is remembered, but trusted for nothing.
        let none = PullCache::new(0, Duration::ZERO);
        none.remember_key(a, &site(None, None), Instant::now());
        assert!(none.known_key(&a).is_some());
        assert!(leased(&none, &a, now).is_none());
    }

    #[test]
    fn the_cache_is_bounded_by_bytes_and_counts() {
        let cache = PullCache::new(64 * 1024, Duration::ZERO);
        let now = jekcms_content::now();
        for i in 0..100 {
            let key = PageKey {
                site_id: 1,
                content_version: i,
                request: "/api/v2/pull/posts".into(),
            };
            let page = CachedPage::new(Bytes::from(vec![b'x'; 4096]), Bytes::new(), None);
            cache.insert(key.clone(), Arc::new(page));
            assert!(cache.get(&key, now).is_some());
        }
        assert!(cache.weight() <= 64 * 1024, "{}", cache.weight());
        assert_eq!(cache.counts(), (100, 0));
        let off = PullCache::new(0, Duration::ZERO);
        let key = PageKey {
            site_id: 1,
            content_version: 1,
            request: "/".into(),
        };
        off.insert(
            key.clone(),
            Arc::new(CachedPage::new(Bytes::new(), Bytes::new(), None)),
        );
        assert!(off.get(&key, now).is_none());
    }
}
