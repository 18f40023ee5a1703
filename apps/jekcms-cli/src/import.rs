//! `jekcms-cli import`: JSON Lines or WXR in, posts created through the bulk endpoint in
//! chunks of 100, a summary of created / skipped / failed and a report of the failures.
//!
//! Re-running an import is safe twice over: each chunk carries an `Idempotency-Key` made
//! from its content (an identical chunk within the server's 24 hours is replayed, creating
//! nothing), and every post is sent with a slug, so that a post already there answers
//! `409 CONFLICT` on `slug` and is counted as skipped rather than created again.
//!
//! Media (`--media DIR`, or a WXR file's attachments) are brought in before the posts, and
//! the posts' bodies rewritten to link them ([`crate::media`]); a re-run reuses the media
//! it uploaded, so the bodies, and so the chunks, are the same as the first time.

use crate::error::CliError;
use crate::media::{self, MediaFailure, MediaSource, MediaSummary, Origin};
use crate::progress;
use crate::source::{self, Action, Format, SourceItem, WxrOptions};
use futures_util::{StreamExt, TryStreamExt};
use jekcms_client::{BULK_CHUNK, Client, ErrorCode, ErrorEntry, NewPost};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The file to read; `-` is standard input.
    pub input: PathBuf,
    /// Its format; when `None`, told by the content (`<` is WXR, `{` JSON Lines), else by
    /// the extension (`.xml`/`.wxr` → WXR, else JSON Lines).
    pub format: Option<Format>,
    /// How WXR items become posts (pages, protected posts).
    pub wxr: WxrOptions,
    /// Where to write one JSON line per failed item.
    pub report: Option<PathBuf>,
    /// A media directory written by `export --with-media`: its media are brought in and
    /// the bodies' URLs of them rewritten.
    pub media: Option<PathBuf>,
    /// WXR: create posts as the site's users their WordPress authors match (by e-mail
    /// address, else login), see [`map_authors`].
    pub map_authors: bool,
    /// WXR: fetch the attachments from their URLs and bring them in (when `false`, they
    /// are counted as items not imported).
    pub fetch_attachments: bool,
    /// Chunks in flight at once (at least 1). With more than one, the posts of different
    /// chunks may be created in either order; 1 keeps the input's order.
    pub concurrency: usize,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// Where the client reports its rate-limit waits, for the bar to show.
    pub rate_limit_wait: crate::RateLimitWait,
    /// Set to stop after the chunks in flight (Ctrl-C).
    pub interrupt: Arc<AtomicBool>,
    /// Stop, as if interrupted, after sending this many chunks (for tests and trial runs).
    pub stop_after_chunks: Option<usize>,
}

impl ImportOptions {
    /// Defaults for importing `input`: format by extension, no report, 2 chunks in flight,
    /// no progress bar.
    pub fn new(input: impl Into<PathBuf>) -> Self {
        Self {
            input: input.into(),
            format: None,
            wxr: WxrOptions::default(),
            report: None,
            media: None,
            fetch_attachments: true,
            map_authors: false,
            concurrency: 2,
            progress: false,
            rate_limit_wait: crate::RateLimitWait::default(),
            interrupt: Arc::default(),
            stop_after_chunks: None,
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Posts in the input (for WXR: items of type `post`).
    pub read: usize,
    /// Posts created by this run.
    pub created: usize,
    /// Posts already there (created by an earlier run, or with the same slug).
    pub skipped_existing: usize,
    /// Posts not imported by design (WordPress trash, auto-drafts, …).
    pub skipped_excluded: usize,
    /// Posts that could not be imported (see the report).
    pub failed: usize,
    /// Posts imported with a change (a protected post kept as a draft, tags over the limit,
    /// …): each is in the report with what was changed.
    pub changed: usize,
    /// Posts not sent because the import stopped early (interrupted or a fatal error).
    pub not_sent: usize,
    /// WXR items not imported (attachments, menu items, pages unless asked for, …).
    pub other_items: usize,
    /// The same, by WordPress item type.
    pub ignored: BTreeMap<String, usize>,
    /// The WordPress authors of the posts read: their posts are attributed to the user of
    /// the API key that imports them.
    pub wordpress_authors: Vec<String>,
    /// The e-mail addresses of those authors, where the WXR file's `<wp:author>`s give them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub wordpress_author_emails: BTreeMap<String, String>,
    /// With `--map-authors`: each WordPress author login matched to a user of the site, and
    /// that user's e-mail address.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub authors_mapped: BTreeMap<String, String>,
    /// Media brought in (from `--media DIR`, or a WordPress export's attachments).
    pub media: MediaSummary,
    /// Whether it stopped before the end.
    pub interrupted: bool,
    /// Why it stopped, when an error stopped it (said once, not per post).
    pub stopped_by: Option<String>,
    /// Wall time, milliseconds.
    pub elapsed_ms: u128,
}

impl ImportSummary {
    /// Posts skipped for either reason.
    pub fn skipped(&self) -> usize {
        self.skipped_existing + self.skipped_excluded
    }
}

/// One line of the report: a post that failed, or one imported with changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportEntry {
    /// 1-based position among the posts of the input.
    pub item: usize,
    /// 1-based line of a JSON Lines input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// `wp:post_id` of a WXR input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The post's title.
    pub title: String,
    /// The slug it was sent with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Why it failed, as the server said it (fields renamed to the post's own, e.g.
    /// `title` rather than `posts[3].title`); empty for a post imported with changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorEntry>,
    /// What the import had changed in it on the way in.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Its WordPress author (`dc:creator`), for WXR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wordpress_author: Option<String>,
}

/// A failed post's report line.
pub type Failure = ReportEntry;

/// The outcome of an import: the summary and every failure.
#[derive(Debug, Clone, Default)]
pub struct ImportOutcome {
    /// The counts.
    pub summary: ImportSummary,
    /// One entry per failed item, in input order.
    pub failures: Vec<Failure>,
    /// One entry per item imported with a change, in input order.
    pub changed: Vec<ReportEntry>,
    /// One entry per medium not brought in.
    pub media_failures: Vec<MediaFailure>,
    /// One entry per post created with a WordPress author: it belongs to the importing
    /// user instead (the API creates posts as the caller).
    pub authors_kept: Vec<ReportEntry>,
}

/// What [`read_input`] read.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The posts, with slugs assigned.
    pub items: Vec<SourceItem>,
    /// WXR items not imported, by type.
    pub ignored: BTreeMap<String, usize>,
    /// WXR authors of the items.
    pub wordpress_authors: Vec<String>,
    /// The media to bring in: the `--media` directory's, or the WXR attachments to fetch.
    pub media: Vec<MediaSource>,
    /// WXR authors' e-mail addresses, by login.
    pub author_emails: BTreeMap<String, String>,
}

/// Reads the input (a file, or standard input for `-`) and turns it into items with slugs.
pub fn read_input(opts: &ImportOptions) -> Result<Input, CliError> {
    let path = &opts.input;
    let mut reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(BufReader::with_capacity(1 << 20, std::io::stdin()))
    } else {
        let file = File::open(path).map_err(|e| CliError::io(path, e))?;
        Box::new(BufReader::with_capacity(1 << 20, file))
    };
    let format = match opts.format {
        Some(format) => format,
        None => {
            let head = reader.fill_buf().map_err(|e| CliError::io(path, e))?;
            Format::sniff(head).unwrap_or_else(|| Format::from_path(path))
        }
    };
    let mut input = match format {
        Format::Jsonl => Input {
            items: source::read_jsonl(reader).map_err(|e| CliError::io(path, e))?,
            ..Input::default()
        },
        Format::Wxr => {
            let mut wxr = source::read_wxr(reader, opts.wxr)
                .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
            let media = if opts.fetch_attachments {
                wxr.attachments
                    .into_iter()
                    .map(|a| MediaSource {
                        label: format!(
                            "attachment {}",
                            a.post_id.as_deref().unwrap_or(a.title.as_str())
                        ),
                        filename: media::url_filename(&a.url),
                        alt_text: a.alt_text,
                        origin: Origin::Url(a.url.clone()),
                        old_urls: vec![media::OldUrl::with_resized_copies(a.url)],
                    })
                    .collect()
            } else {
                if !wxr.attachments.is_empty() {
                    *wxr.ignored.entry("attachment".to_owned()).or_default() +=
                        wxr.attachments.len();
                }
                Vec::new()
            };
            Input {
                items: wxr.items,
                ignored: wxr.ignored,
                wordpress_authors: wxr.authors.into_iter().collect(),
                media,
                author_emails: wxr.author_emails,
            }
        }
    };
    if let Some(dir) = &opts.media {
        input.media.extend(media::read_media_dir(dir)?);
    }
    source::assign_slugs(&mut input.items);
    Ok(input)
}

/// Matches WordPress authors to users of the site: by e-mail address (`emails`, from the
/// file's `<wp:author>`s), else a user whose name, or e-mail address before the `@`, is the
/// login (ignoring case). A login two users could match by name is left unmatched.
pub fn map_authors<'a>(
    logins: &[String],
    emails: &BTreeMap<String, String>,
    users: &'a [jekcms_client::User],
) -> BTreeMap<String, &'a jekcms_client::User> {
    let mut out = BTreeMap::new();
    for login in logins {
        let by_email = emails
            .get(login)
            .and_then(|email| users.iter().find(|u| u.email.eq_ignore_ascii_case(email)));
        let found = by_email.or_else(|| {
            let mut by_login = users.iter().filter(|u| {
                u.name.eq_ignore_ascii_case(login)
                    || u.email
                        .split('@')
                        .next()
                        .is_some_and(|local| local.eq_ignore_ascii_case(login))
            });
            match (by_login.next(), by_login.next()) {
                (Some(user), None) => Some(user),
                _ => None,
            }
        });
        if let Some(user) = found {
            out.insert(login.clone(), user);
        }
    }
    out
}

/// JSON Lines posts keep their `author_id` where it is a user of the site. The others (an
/// export from another server, a user since deleted) are created as the importing user,
/// each noted in the report, rather than failing. A key that may not read the users (an
/// editor's) sends the ids as they are: the server refuses a post whose author is no user
/// of the site, and the report says so.
async fn keep_known_authors(client: &Client, items: &mut [SourceItem]) -> Result<(), CliError> {
    let named = |it: &SourceItem| match &it.action {
        Action::Send(post) => post.author_id,
        _ => None,
    };
    if !items.iter().any(|it| named(it).is_some()) {
        return Ok(());
    }
    let users: std::collections::HashSet<i64> =
        match client.users().map_ok(|u| u.id).try_collect().await {
            Ok(users) => users,
            Err(e) if e.code() == Some(ErrorCode::Forbidden) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
    for it in items {
        if let Action::Send(post) = &mut it.action
            && let Some(id) = post.author_id
            && !users.contains(&id)
        {
            post.author_id = None;
            it.notes.push(format!(
                "author_id {id} is no user of this site: created as the importing user"
            ));
        }
    }
    Ok(())
}

/// A slug conflict: the post is there already.
fn is_existing(errors: &[ErrorEntry]) -> bool {
    !errors.is_empty()
        && errors.iter().all(|e| {
            e.code == ErrorCode::Conflict && e.field.as_deref().is_some_and(|f| f.ends_with("slug"))
        })
}

/// `posts[3].title` → `title`.
fn own_field(mut e: ErrorEntry) -> ErrorEntry {
    if let Some(field) = &e.field
        && let Some(rest) = field.strip_prefix("posts[")
        && let Some((_, tail)) = rest.split_once(']')
    {
        e.field = Some(tail.trim_start_matches('.').to_owned()).filter(|f| !f.is_empty());
    }
    e
}

/// An error after which no further chunk can succeed.
pub(crate) fn is_fatal(e: &jekcms_client::Error) -> bool {
    match e.code() {
        Some(
            ErrorCode::AuthInvalid
            | ErrorCode::AuthExpired
            | ErrorCode::Forbidden
            | ErrorCode::LicenseRequired
            | ErrorCode::RateLimited
            | ErrorCode::Unavailable,
        ) => true,
        Some(_) => false,
        None => true,
    }
}

/// Imports the input through `client`, chunk by chunk, and returns what happened. Only a
/// failure to read the input is an `Err`: failures of items and of chunks are in the
/// outcome (a chunk-level error that no later chunk could escape — authentication, role,
/// quota, an unreachable server — stops the import; the rest counts as `not_sent`).
pub async fn run(client: &Client, opts: &ImportOptions) -> Result<ImportOutcome, CliError> {
    let started = Instant::now();
    let Input {
        mut items,
        ignored,
        wordpress_authors,
        media: media_sources,
        author_emails,
    } = read_input(opts)?;
    let mut out = ImportOutcome::default();
    // Media first, so that the posts are created with their bodies pointing at them.
    if !media_sources.is_empty() {
        // The same bar as the posts', counting media.
        let bar = progress::bar(
            Some(media_sources.len() as u64),
            opts.progress,
            "media",
            &opts.rate_limit_wait,
        );
        let brought = media::import(client, media_sources, &bar).await;
        bar.finish_and_clear();
        let brought = brought?;
        for it in &mut items {
            if let Action::Send(post) = &mut it.action
                && let Some(body) = &post.body
                && let Some(rewritten) = brought.rewriter.rewrite(body)
            {
                post.body = Some(rewritten);
                out.summary.media.bodies_rewritten += 1;
            }
        }
        let bodies_rewritten = out.summary.media.bodies_rewritten;
        out.summary.media = MediaSummary {
            bodies_rewritten,
            ..brought.summary
        };
        out.media_failures = brought.failures;
    }
    out.summary.read = items.len();
    out.summary.other_items = ignored.values().sum();
    out.summary.ignored = ignored;
    out.summary.wordpress_author_emails = author_emails
        .into_iter()
        .filter(|(login, _)| wordpress_authors.contains(login))
        .collect();
    out.summary.wordpress_authors = wordpress_authors;
    keep_known_authors(client, &mut items).await?;

    if opts.map_authors && !out.summary.wordpress_authors.is_empty() {
        let users = match client.users().try_collect::<Vec<_>>().await {
            Ok(users) => users,
            Err(e) if e.code() == Some(ErrorCode::Forbidden) => {
                return Err(CliError::Input(
                    "--map-authors reads the site's users, which only an admin or owner key may do"
                        .into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let matched = map_authors(
            &out.summary.wordpress_authors,
            &out.summary.wordpress_author_emails,
            &users,
        );
        for it in &mut items {
            if let (Action::Send(post), Some(login)) = (&mut it.action, &it.author)
                && let Some(user) = matched.get(login)
            {
                post.author_id = Some(user.id);
                it.author = None;
            }
        }
        out.summary.authors_mapped = matched
            .into_iter()
            .map(|(login, user)| (login, user.email.clone()))
            .collect();
        out.summary
            .wordpress_authors
            .retain(|login| !out.summary.authors_mapped.contains_key(login));
    }

    // Items that are not sent are settled now; the rest go in chunks of 100.
    let mut to_send: Vec<(SourceItem, NewPost)> = Vec::new();
    for it in items {
        match &it.action {
            Action::Send(post) => {
                let post = post.clone();
                to_send.push((it, post));
            }
            Action::Exclude(_) => out.summary.skipped_excluded += 1,
            Action::Invalid(reason) => {
                out.summary.failed += 1;
                out.failures.push(entry(
                    &it,
                    None,
                    vec![ErrorEntry::field(
                        ErrorCode::ValidationFailed,
                        "line",
                        reason.clone(),
                    )],
                ));
            }
        }
    }
    let bar = progress::bar(
        Some(to_send.len() as u64),
        opts.progress,
        "posts",
        &opts.rate_limit_wait,
    );
    let chunks: Vec<Vec<(SourceItem, NewPost)>> = {
        let mut chunks = Vec::new();
        let mut rest = to_send.into_iter().peekable();
        while rest.peek().is_some() {
            chunks.push(rest.by_ref().take(BULK_CHUNK).collect());
        }
        chunks
    };
    let total_chunks = chunks.len();
    let stop = Arc::new(AtomicBool::new(false));
    let limit = opts.stop_after_chunks.unwrap_or(usize::MAX);
    let mut sent_chunks = 0usize;

    let mut results = futures_util::stream::iter(chunks.into_iter().enumerate())
        .map(|(n, chunk)| {
            let client = client.clone();
            let stop = stop.clone();
            let interrupt = opts.interrupt.clone();
            async move {
                if n >= limit || stop.load(Ordering::SeqCst) || interrupt.load(Ordering::SeqCst) {
                    return (chunk, None);
                }
                let posts: Vec<NewPost> = chunk.iter().map(|(_, p)| p.clone()).collect();
                let result = client.posts().bulk_create(posts).await;
                if let Err(e) = &result
                    && is_fatal(e)
                {
                    stop.store(true, Ordering::SeqCst);
                }
                (chunk, Some(result))
            }
        })
        .buffered(opts.concurrency.max(1));

    while let Some((chunk, result)) = results.next().await {
        let Some(result) = result else {
            out.summary.not_sent += chunk.len();
            out.summary.interrupted = true;
            continue;
        };
        sent_chunks += 1;
        match result {
            Ok(report) => {
                let replayed = report.replayed_chunks > 0;
                for (r, (it, post)) in report.results.into_iter().zip(&chunk) {
                    if r.id.is_some() {
                        if replayed {
                            out.summary.skipped_existing += 1;
                        } else {
                            out.summary.created += 1;
                        }
                        if !it.notes.is_empty() {
                            out.summary.changed += 1;
                            out.changed.push(entry(it, post.slug.clone(), Vec::new()));
                        }
                        if it.author.is_some() && !replayed {
                            out.authors_kept
                                .push(entry(it, post.slug.clone(), Vec::new()));
                        }
                    } else if is_existing(&r.errors) {
                        out.summary.skipped_existing += 1;
                    } else {
                        out.summary.failed += 1;
                        let errors = r.errors.into_iter().map(own_field).collect();
                        out.failures.push(entry(it, post.slug.clone(), errors));
                    }
                }
            }
            // An error no later chunk can escape (a role that may not import, a bad key,
            // an unreachable server) is said once; the posts of the chunk were not
            // imported, like those after it.
            Err(e) if is_fatal(&e) => {
                out.summary.not_sent += chunk.len();
                out.summary.interrupted = true;
                if out.summary.stopped_by.is_none() {
                    out.summary.stopped_by = Some(e.to_string());
                }
            }
            Err(e) => {
                let errors = match e.api() {
                    Some(api) => api.errors.clone(),
                    None => vec![ErrorEntry::new(ErrorCode::InternalError, e.to_string())],
                };
                for (it, post) in &chunk {
                    out.summary.failed += 1;
                    out.failures
                        .push(entry(it, post.slug.clone(), errors.clone()));
                }
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    debug_assert!(sent_chunks <= total_chunks);
    out.failures.sort_by_key(|f| f.item);
    out.changed.sort_by_key(|c| c.item);
    out.authors_kept.sort_by_key(|c| c.item);
    out.summary.elapsed_ms = started.elapsed().as_millis();
    if let Some(path) = &opts.report {
        write_report(
            path,
            &out.failures,
            &out.changed,
            &out.media_failures,
            &out.authors_kept,
        )?;
    }
    Ok(out)
}

fn entry(it: &SourceItem, slug: Option<String>, errors: Vec<ErrorEntry>) -> ReportEntry {
    ReportEntry {
        item: it.item,
        line: it.line,
        source_id: it.source_id.clone(),
        title: it.title.clone(),
        slug,
        errors,
        notes: it.notes.clone(),
        wordpress_author: it.author.clone(),
    }
}

/// Writes one JSON line per failure (`"outcome": "failed"`), then one per post imported
/// with changes (`"outcome": "changed"`), one per medium not brought in
/// (`"outcome": "media_failed"`), and one per post created with a WordPress author that
/// now belongs to the importing user (`"outcome": "author_kept"`); an empty file when
/// there is none, so that an old report never outlives a clean re-run.
pub fn write_report(
    path: &std::path::Path,
    failures: &[ReportEntry],
    changed: &[ReportEntry],
    media_failures: &[MediaFailure],
    authors_kept: &[ReportEntry],
) -> Result<(), CliError> {
    #[derive(Serialize)]
    struct Line<'a, T: Serialize> {
        outcome: &'static str,
        #[serde(flatten)]
        entry: &'a T,
    }
    let file = File::create(path).map_err(|e| CliError::io(path, e))?;
    let mut w = BufWriter::new(file);
    let mut write = |line: serde_json::Result<Vec<u8>>| -> Result<(), CliError> {
        let mut line = line.expect("report lines serialize");
        line.push(b'\n');
        w.write_all(&line).map_err(|e| CliError::io(path, e))
    };
    for entry in failures {
        write(serde_json::to_vec(&Line {
            outcome: "failed",
            entry,
        }))?;
    }
    for entry in changed {
        write(serde_json::to_vec(&Line {
            outcome: "changed",
            entry,
        }))?;
    }
    for entry in media_failures {
        write(serde_json::to_vec(&Line {
            outcome: "media_failed",
            entry,
        }))?;
    }
    for entry in authors_kept {
        write(serde_json::to_vec(&Line {
            outcome: "author_kept",
            entry,
        }))?;
    }
    w.flush().map_err(|e| CliError::io(path, e))
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = Duration::from_millis(self.elapsed_ms as u64).as_secs_f64();
        write!(
            f,
            "{} read: {} created, {} skipped ({} already there, {} excluded), {} failed",
            self.read,
            self.created,
            self.skipped(),
            self.skipped_existing,
            self.skipped_excluded,
            self.failed
        )?;
        if self.not_sent > 0 {
            write!(f, ", {} not sent", self.not_sent)?;
        }
        write!(f, " in {secs:.2} s")?;
        if self.changed > 0 {
            write!(
                f,
                "\n{} imported with changes (protected posts kept as drafts, tags over the limit, …): see the report",
                self.changed
            )?;
        }
        if !self.ignored.is_empty() {
            let by_type: Vec<String> = self
                .ignored
                .iter()
                .map(|(kind, n)| format!("{n} {kind}"))
                .collect();
            write!(f, "\nWordPress items not imported: {}", by_type.join(", "))?;
            if self.ignored.contains_key("page") {
                write!(f, " (--pages imports pages)")?;
            }
        }
        let m = &self.media;
        if m.read > 0 {
            write!(
                f,
                "\nmedia: {} read, {} uploaded, {} already there, {} failed; {} bodies rewritten",
                m.read, m.uploaded, m.already_there, m.failed, m.bodies_rewritten
            )?;
            if m.failed > 0 {
                write!(f, " (the failed media keep their old URLs: see the report)")?;
            }
        }
        if !self.authors_mapped.is_empty() {
            let mapped: Vec<String> = self
                .authors_mapped
                .iter()
                .map(|(login, email)| format!("{login} → {email}"))
                .collect();
            write!(
                f,
                "\nWordPress authors mapped to users of the site: {}",
                mapped.join(", ")
            )?;
        }
        if !self.wordpress_authors.is_empty() {
            write!(
                f,
                "\nposts by the WordPress authors {} are attributed to the importing user \
                 (the API creates posts as the caller; the report lists each)",
                self.wordpress_authors
                    .iter()
                    .map(|login| match self.wordpress_author_emails.get(login) {
                        Some(email) => format!("{login} <{email}>"),
                        None => login.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        if let Some(why) = &self.stopped_by {
            write!(f, "\nstopped: {why}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slug_conflicts_count_as_existing() {
        let conflict = ErrorEntry::field(ErrorCode::Conflict, "posts[3].slug", "taken");
        let invalid = ErrorEntry::field(ErrorCode::ValidationFailed, "posts[3].title", "empty");
        assert!(is_existing(std::slice::from_ref(&conflict)));
        assert!(!is_existing(&[conflict, invalid.clone()]));
        assert!(!is_existing(&[]));
        assert_eq!(own_field(invalid).field.as_deref(), Some("title"));
    }
}
