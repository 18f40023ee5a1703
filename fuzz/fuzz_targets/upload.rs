//! The upload path: a `multipart/form-data` body, cut into chunks at any points, read as the
//! server's upload handler reads it (actix-multipart, the `file` and `alt_text` fields), the
//! file's head sniffed and its client-supplied name cleaned. Nothing panics; a cleaned name
//! is a plain file name.
#![no_main]

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::web::Bytes;
use futures_util::StreamExt;
use jekcms_content::media::{self, check_alt_text};
use libfuzzer_sys::fuzz_target;

/// Bytes of the file kept for sniffing (the server keeps more; the formats it accepts are
/// told apart in far fewer).
const HEAD_BYTES: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let chunk_len = usize::from(cut).max(1);
    let chunks: Vec<Result<Bytes, actix_web::error::PayloadError>> = body
        .chunks(chunk_len)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("multipart/form-data; boundary=XB"),
    );
    let mut form = actix_multipart::Multipart::new(&headers, futures_util::stream::iter(chunks));
    futures_executor::block_on(async {
        while let Some(field) = form.next().await {
            let Ok(mut field) = field else { return };
            let name = field.name().unwrap_or_default().to_owned();
            let filename = field
                .content_disposition()
                .and_then(|d| d.get_filename())
                .map(str::to_owned);
            let mut content = Vec::new();
            while let Some(chunk) = field.next().await {
                let Ok(chunk) = chunk else { return };
                let room = HEAD_BYTES.saturating_sub(content.len());
                content.extend_from_slice(&chunk[..room.min(chunk.len())]);
            }
            match name.as_str() {
                "file" => {
                    let extension = media::sniff(&content).map_or("bin", |s| s.extension);
                    let cleaned = media::clean_filename(filename.as_deref(), extension);
                    assert!(!cleaned.is_empty());
                    assert!(cleaned.chars().count() <= 255, "{cleaned:?}");
                    assert!(!cleaned.starts_with('.'), "{cleaned:?}");
                    assert!(
                        !cleaned.contains(['/', '\\', '"'])
                            && !cleaned.chars().any(char::is_control),
                        "{cleaned:?}"
                    );
                }
                "alt_text" => {
                    if let Ok(text) = String::from_utf8(content) {
                        let _ = check_alt_text(&text);
                    }
                }
                _ => {}
            }
        }
    });
});
