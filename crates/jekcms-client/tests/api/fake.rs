//! A scripted HTTP server, for what the real one will not do on cue: answer
//! `AUTH_EXPIRED` to a token the client believes fresh, fail with a 5xx, drop a connection.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A request as received.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) line: String,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: String,
}

impl Req {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// What to answer: `None` closes the connection without a response.
pub(crate) type Answer = Option<(u16, Vec<(&'static str, String)>, String)>;

/// An answer header that is not sent: the server waits this many milliseconds first.
pub(crate) const DELAY: &str = "x-fake-delay-ms";

/// The answer to the `nth` (from 0) request with the same request line.
type Script = dyn Fn(&Req, usize) -> Answer + Send + Sync;

pub(crate) struct Fake {
    pub(crate) base_url: String,
    log: Arc<Mutex<Vec<Req>>>,
}

impl Fake {
    pub(crate) async fn start(
        script: impl Fn(&Req, usize) -> Answer + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::<Req>::new()));
        let script: Arc<Script> = Arc::new(script);
        let shared = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let log = shared.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut socket).await else {
                        return;
                    };
                    let nth = {
                        let mut log = log.lock().unwrap();
                        let nth = log.iter().filter(|r| r.line == req.line).count();
                        log.push(req.clone());
                        nth
                    };
                    let Some((status, mut headers, body)) = script(&req, nth) else {
                        return;
                    };
                    if let Some(i) = headers.iter().position(|(n, _)| *n == DELAY) {
                        let ms = headers.remove(i).1.parse().unwrap();
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    }
                    let mut out = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                        body.len()
                    );
                    for (name, value) in headers {
                        out.push_str(&format!("{name}: {value}\r\n"));
                    }
                    out.push_str("\r\n");
                    out.push_str(&body);
                    let _ = socket.write_all(out.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { base_url, log }
    }

    /// The request lines received so far, in order.
    pub(crate) fn lines(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.line.clone())
            .collect()
    }

    /// Every request received with this request line.
    pub(crate) fn requests(&self, line: &str) -> Vec<Req> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.line == line)
            .cloned()
            .collect()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    // "GET /path?query HTTP/1.1" → "GET /path"
    let mut parts = first.split(' ');
    let method = parts.next()?;
    let path = parts.next()?.split('?').next()?;
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Req {
        line: format!("{method} {path}"),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A JSON envelope answer.
pub(crate) fn ok(status: u16, data: Value) -> Answer {
    let body = json!({"success": true, "data": data, "meta": {"request_id": "fake"}, "errors": []});
    Some((
        status,
        vec![("content-type", "application/json".into())],
        body.to_string(),
    ))
}

/// A failure envelope answer.
pub(crate) fn fail(status: u16, code: &str) -> Answer {
    let body = json!({"success": false, "data": null, "meta": {"request_id": format!("fake-{code}")},
        "errors": [{"code": code, "message": "scripted"}]});
    Some((
        status,
        vec![("content-type", "application/json".into())],
        body.to_string(),
    ))
}

/// `data` of a token response.
pub(crate) fn pair(access: &str, refresh: &str) -> Answer {
    ok(
        200,
        json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
        "expires_in": 900, "refresh_expires_in": 2_592_000}),
    )
}

pub(crate) fn me() -> Value {
    json!({"user": {"id": 1, "name": "o", "email": "o@example.com", "role": "owner"},
        "site": {"id": 1, "slug": "default", "name": "default"},
        "credential": {"family": "api", "key_id": "api_x", "session_id": 1},
        "rate_limit": null})
}

pub(crate) fn post(id: i64) -> Value {
    json!({"id": id, "site_id": 1, "author_id": 1, "title": "T", "slug": "t", "excerpt": null,
        "body": null, "status": "draft", "tags": [], "published_at": null,
        "created_at": "2026-11-23T10:00:00Z", "updated_at": "2026-11-23T10:00:00Z"})
}
