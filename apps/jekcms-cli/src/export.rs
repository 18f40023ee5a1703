//! `jekcms-cli export`: every post (or those a filter keeps) to JSON Lines, one post per
//! line exactly as the API sent it, page after page along `next_cursor` (100 a page).
//!
//! Resumable: when writing to a file, after each page the CLI records in `FILE.cursor` the
//! cursor of the next page and the length of the file so far; `--resume` truncates the
//! file to that length (dropping a page half-written when the process was killed) and
//! goes on from that cursor. An interrupted export also prints the cursor, which
//! `--resume-from` takes (for stdout, or to append to another file).

use crate::error::CliError;
use crate::progress;
use jekcms_client::{Client, Page, PostFilter, PostSort};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What to export and where.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Which posts, in which order (oldest first when no sort is set; the page size is
    /// always 100).
    pub filter: PostFilter,
    /// The file to write; stdout when `None`.
    pub output: Option<PathBuf>,
    /// Go on from `OUTPUT.cursor`, left by an export that did not finish.
    pub resume: bool,
    /// Start from this cursor (printed by an interrupted export), appending to the output.
    pub resume_from: Option<String>,
    /// Draw a progress bar on stderr (when it is a terminal).
    pub progress: bool,
    /// Where the client reports its rate-limit waits, for the bar to show.
    pub rate_limit_wait: crate::RateLimitWait,
    /// Set to stop after the page being written (Ctrl-C).
    pub interrupt: Arc<AtomicBool>,
    /// Stop, as if interrupted, after this many pages (for tests and trial runs).
    pub stop_after_pages: Option<usize>,
    /// Also write every medium (record and bytes) to this directory, once the posts are
    /// written (see [`crate::media`]).
    pub with_media: Option<PathBuf>,
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// Posts written by this run.
    pub exported: u64,
    /// Posts in the output file, counting those of the run resumed.
    pub in_output: u64,
    /// The cursor to resume from when the export stopped early; `None` when complete.
    pub next_cursor: Option<String>,
    /// The media written with `--with-media`.
    pub media: Option<crate::media::MediaExportSummary>,
    /// Wall time, milliseconds.
    pub elapsed_ms: u128,
}

/// The `FILE.cursor` sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    cursor: String,
    offset: u64,
    exported: u64,
}

/// `posts.jsonl` → `posts.jsonl.cursor`.
pub fn checkpoint_path(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".cursor");
    PathBuf::from(name)
}

fn write_checkpoint(path: &Path, cp: &Checkpoint) -> Result<(), CliError> {
    let tmp = {
        let mut name = path.as_os_str().to_owned();
        name.push(".tmp");
        PathBuf::from(name)
    };
    let bytes = serde_json::to_vec(cp).expect("checkpoints serialize");
    std::fs::write(&tmp, bytes).map_err(|e| CliError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CliError::io(path, e))
}

type PageResult = Result<Page<Box<RawValue>>, jekcms_client::Error>;

fn fetch(
    client: &Client,
    filter: &PostFilter,
    cursor: Option<String>,
) -> tokio::task::JoinHandle<PageResult> {
    let list = client.posts().list(filter.clone());
    let list = match cursor {
        Some(c) => list.after(c),
        None => list,
    };
    tokio::spawn(list.raw_page())
}

/// Runs the export. The next page is fetched while the current one is written.
pub async fn run(client: &Client, opts: &ExportOptions) -> Result<ExportSummary, CliError> {
    let started = Instant::now();
    let mut filter = opts.filter.clone();
    filter.limit = Some(100);
    // Oldest first unless told otherwise: the file reads as the site's history, and an
    // import of it creates the posts in the same order.
    filter.sort.get_or_insert(PostSort::CreatedAsc);
    filter.include_total = false;

    let mut summary = ExportSummary::default();
    let mut cursor = opts.resume_from.clone();
    let mut offset = 0u64;
    let checkpoint = opts.output.as_deref().map(checkpoint_path);
    let mut sink: Box<dyn Write + Send> = match &opts.output {
        None => {
            if opts.resume {
                return Err(CliError::Input(
                    "--resume needs --output (the file whose export to resume)".into(),
                ));
            }
            Box::new(std::io::stdout())
        }
        Some(path) => {
            let cp_path = checkpoint.as_deref().expect("set with the output");
            let mut file = if opts.resume {
                let text = match std::fs::read(cp_path) {
                    Ok(text) => text,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(CliError::Input(format!(
                            "nothing to resume: no {} (the export of {} finished, or never started)",
                            cp_path.display(),
                            path.display()
                        )));
                    }
                    Err(e) => return Err(CliError::io(cp_path, e)),
                };
                let cp: Checkpoint = serde_json::from_slice(&text).map_err(|e| {
                    CliError::Input(format!("{}: not a checkpoint: {e}", cp_path.display()))
                })?;
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| CliError::io(path, e))?;
                file.set_len(cp.offset).map_err(|e| CliError::io(path, e))?;
                cursor = Some(cp.cursor);
                offset = cp.offset;
                summary.in_output = cp.exported;
                file
            } else if opts.resume_from.is_some() {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| CliError::io(path, e))?
            } else {
                let _ = std::fs::remove_file(cp_path);
                File::create(path).map_err(|e| CliError::io(path, e))?
            };
            offset = file
                .seek(SeekFrom::End(0))
                .map_err(|e| CliError::io(path, e))?
                .max(offset);
            Box::new(file)
        }
    };
    let out_name = opts
        .output
        .as_deref()
        .map_or_else(|| PathBuf::from("stdout"), Path::to_path_buf);

    // The length of the bar: one cheap counting request, only when a bar is drawn.
    let bar = progress::bar(None, opts.progress, "posts", &opts.rate_limit_wait);
    if !bar.is_hidden() {
        let counting = filter.clone().limit(1).include_total();
        if let Ok(page) = client.posts().list(counting).page().await
            && let Some(total) = page.total
        {
            bar.set_style(progress::style(true, "posts", &opts.rate_limit_wait));
            bar.set_length(total);
        }
        bar.set_position(summary.in_output);
        // The posts of a resumed run were not written now: keep them out of the rate.
        bar.reset_eta();
    }

    let mut pages = 0usize;
    let mut pending = Some(fetch(client, &filter, cursor.clone()));
    let mut buf: Vec<u8> = Vec::with_capacity(512 * 1024);
    while let Some(handle) = pending.take() {
        let page = match handle.await {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => {
                print_resume_hint(&opts.output, cursor.as_deref());
                return Err(e.into());
            }
            Err(join) => return Err(CliError::Input(format!("the page fetch failed: {join}"))),
        };
        pages += 1;
        let stop = opts.interrupt.load(Ordering::SeqCst)
            || opts.stop_after_pages.is_some_and(|n| pages >= n);
        if let Some(next) = &page.next_cursor
            && !stop
        {
            pending = Some(fetch(client, &filter, Some(next.clone())));
        }

        buf.clear();
        for post in &page.items {
            buf.extend_from_slice(post.get().as_bytes());
            buf.push(b'\n');
        }
        sink.write_all(&buf)
            .map_err(|e| CliError::io(&out_name, e))?;
        sink.flush().map_err(|e| CliError::io(&out_name, e))?;
        offset += buf.len() as u64;
        summary.exported += page.items.len() as u64;
        summary.in_output += page.items.len() as u64;
        bar.inc(page.items.len() as u64);
        cursor = page.next_cursor;

        if let (Some(cp_path), Some(next)) = (&checkpoint, &cursor) {
            write_checkpoint(
                cp_path,
                &Checkpoint {
                    cursor: next.clone(),
                    offset,
                    exported: summary.in_output,
                },
            )?;
        }
        if stop && cursor.is_some() {
            bar.finish_and_clear();
            summary.next_cursor = cursor;
            summary.elapsed_ms = started.elapsed().as_millis();
            return Ok(summary);
        }
    }
    bar.finish_and_clear();
    if let Some(cp_path) = &checkpoint {
        let _ = std::fs::remove_file(cp_path);
    }
    if let Some(dir) = &opts.with_media {
        summary.media = Some(crate::media::export(client, dir).await?);
    }
    summary.elapsed_ms = started.elapsed().as_millis();
    Ok(summary)
}

fn print_resume_hint(output: &Option<PathBuf>, cursor: Option<&str>) {
    match (output, cursor) {
        (Some(path), Some(_)) => eprintln!(
            "the export stopped; run it again with --resume to continue {}",
            path.display()
        ),
        (None, Some(c)) => eprintln!("the export stopped; continue with --resume-from {c}"),
        (_, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sidecar_sits_beside_the_output() {
        assert_eq!(
            checkpoint_path(Path::new("out/posts.jsonl")),
            PathBuf::from("out/posts.jsonl.cursor")
        );
    }
}
