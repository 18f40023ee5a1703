//! A real S3-compatible server for the media tests: moto's `moto_server`, started once per
//! test process when `JEKCMS_TEST_S3` is set (`1` for `moto_server` on the PATH, or the
//! path of the program; `scripts/moto.sh` installs a pinned one). Unset, the S3 tests skip,
//! like the PostgreSQL leg; set, a server that does not start fails them. Each test gets a
//! bucket of its own.

use jekcms_media_store::{Addressing, S3Location, S3Settings};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `host:port` of the running moto server, or why there is none.
static MOTO: OnceLock<Result<String, String>> = OnceLock::new();

/// The moto server's `host:port`, starting it on first use; `None` when the S3 leg is off.
pub fn moto() -> Option<&'static str> {
    let program = std::env::var("JEKCMS_TEST_S3")
        .ok()
        .filter(|v| !v.is_empty() && v != "0")?;
    let started = MOTO.get_or_init(|| start(&program));
    match started {
        Ok(addr) => Some(addr.as_str()),
        Err(e) => panic!("JEKCMS_TEST_S3 is set but moto cannot run: {e}"),
    }
}

fn start(program: &str) -> Result<String, String> {
    let program = if program == "1" {
        "moto_server"
    } else {
        program
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let log = std::env::temp_dir().join(format!("jekcms-moto-{}.log", std::process::id()));
    // moto runs as long as this process: the shell waits on its standard input, which closes
    // when the test process exits (however it exits), then stops moto.
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 & m=$!; cat >/dev/null; kill $m"#)
        .arg(program)
        .arg(port.to_string())
        .arg(&log)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    // Kept open (leaked) for the life of the process.
    std::mem::forget(child.stdin.take());
    let addr = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if request(&addr, "GET", "/").is_ok_and(|(status, _)| status == 200) {
            return Ok(addr);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "{program} exited ({status}); see {}",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "{program} did not answer on {addr} within 60 s; see {}",
        log.display()
    ))
}

/// One unsigned HTTP/1.1 request (moto accepts them): the status and the body.
pub fn request(addr: &str, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// Settings for a new, empty bucket on the moto server (prefix `media/x`, so that keys
/// outside the prefix are seen to be left alone); `None` when the S3 leg is off.
pub fn fresh_bucket() -> Option<S3Settings> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let addr = moto()?;
    let bucket = format!(
        "jekcms-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let (status, body) = request(addr, "PUT", &format!("/{bucket}")).expect("moto answers");
    assert_eq!(status, 200, "creating bucket {bucket}: {body}");
    Some(settings(addr, &format!("s3://{bucket}/media/x")))
}

/// Settings for `url` on the server at `addr`, with moto's test credentials.
pub fn settings(addr: &str, url: &str) -> S3Settings {
    S3Settings {
        location: S3Location::parse(url).unwrap(),
        endpoint: Some(format!("http://{addr}")),
        region: "us-east-1".into(),
        access_key_id: Some("testing-key-id".into()),
        secret_access_key: Some("testing-secret-never-logged".into()),
        session_token: None,
        addressing: Addressing::Path,
    }
}

/// Multipart uploads begun and neither completed nor aborted in the bucket.
pub fn pending_multipart_uploads(settings: &S3Settings) -> usize {
    let addr = settings
        .endpoint
        .as_deref()
        .unwrap()
        .trim_start_matches("http://");
    let (status, body) = request(
        addr,
        "GET",
        &format!("/{}?uploads", settings.location.bucket),
    )
    .expect("moto answers");
    assert_eq!(status, 200, "{body}");
    body.matches("<UploadId>").count()
}

/// Declares each test twice with media on a fresh moto bucket, once per backend:
/// `mod name { fn sqlite(); fn postgres(); }`. Skipped (passing) when `JEKCMS_TEST_S3` is
/// unset, the PostgreSQL variant also when `JEKCMS_TEST_POSTGRES_URL` is.
macro_rules! s3_both_stores {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($app: $crate::helpers::TestApp) $body

                async fn on(backend: jekcms_store::Backend) {
                    let Some(bucket) = $crate::s3::fresh_bucket() else {
                        eprintln!("skipped: JEKCMS_TEST_S3 is not set");
                        return;
                    };
                    match $crate::helpers::TestApp::new(backend, |c| {
                        c.media_store = Some(bucket);
                        // Over two parts, so that a refused upload has begun a multipart upload.
                        c.max_upload_bytes = 12 * 1024 * 1024;
                    }).await {
                        Some(app) => run(app).await,
                        None => eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set"),
                    }
                }

                #[actix_web::test]
                async fn sqlite() {
                    on(jekcms_store::Backend::Sqlite).await;
                }

                #[actix_web::test]
                async fn postgres() {
                    on(jekcms_store::Backend::Postgres).await;
                }
            }
        )*
    };
}
pub(crate) use s3_both_stores;
