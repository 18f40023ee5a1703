#![allow(missing_docs)]
//! No token, secret or password reaches the logs at any level: the real `jekcms` binary runs
//! with `JEKCMS_LOG=trace` over real HTTP, a client walks every credential path (register,
//! login, keys, token pair, refresh and reuse, `?token=`, pull keys, wrong families, malformed bodies,
//! the v1 key-pair headers, a bulk import with an `Idempotency-Key`, a password change,
//! logout), and the captured log is searched for every secret handled.

mod common;

use jekcms_store::Backend;
use jekcms_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

struct Http {
    addr: String,
}

impl Http {
    /// One HTTP/1.1 request; returns the status and the body as JSON (`Null` if not JSON).
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        req.push_str("\r\n");
        req.push_str(body.unwrap_or(""));
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw);
        let status = text[9..12].parse().unwrap();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn json(&self, method: &str, path: &str, bearer: Option<&str>, body: Value) -> (u16, Value) {
        let auth = bearer.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        self.send(method, path, &headers, Some(&body.to_string()))
    }

    fn get(&self, path: &str, bearer: &str) -> (u16, Value) {
        let auth = format!("Bearer {bearer}");
        self.send("GET", path, &[("Authorization", &auth)], None)
    }
}

fn s(v: &Value, key: &str) -> String {
    v["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_owned()
}

/// Walks every credential path; returns every secret the run handled.
fn exercise(http: &Http) -> Vec<String> {
    let mut secrets = Vec::new();
    let password = "first password of the log test".to_owned();
    let new_password = "second password of the log test".to_owned();
    let wrong_password = "wrong password of the log test".to_owned();
    secrets.extend([
        password.clone(),
        new_password.clone(),
        wrong_password.clone(),
    ]);

    let (st, reg) = http.json("POST", "/api/v2/auth/register", None,
        json!({"name": "Log", "email": "log@example.com", "password": password, "site_name": "Logs"}));
    assert_eq!(st, 201, "{reg}");
    let owner_access = s(&reg, "access_token");
    secrets.extend([owner_access.clone(), s(&reg, "refresh_token")]);

    let (st, login) = http.json(
        "POST",
        "/api/v2/auth/login",
        None,
        json!({"email": "log@example.com", "password": password}),
    );
    assert_eq!(st, 200);
    let login_access = s(&login, "access_token");
    let login_refresh = s(&login, "refresh_token");
    secrets.extend([login_access.clone(), login_refresh.clone()]);
    let (st, _) = http.json(
        "POST",
        "/api/v2/auth/login",
        None,
        json!({"email": "log@example.com", "password": wrong_password}),
    );
    assert_eq!(st, 401);

    let (st, key) = http.json(
        "POST",
        "/api/v2/api-keys",
        Some(&owner_access),
        json!({"name": "logs"}),
    );
    assert_eq!(st, 201, "{key}");
    let (api_key, api_secret) = (s(&key, "api_key"), s(&key, "api_secret"));
    secrets.push(api_secret.clone());
    let (st, mcp) = http.json(
        "POST",
        "/api/v2/api-keys",
        Some(&owner_access),
        json!({"name": "agent", "family": "mcp"}),
    );
    assert_eq!(st, 201);
    let mcp_token = s(&mcp, "token");
    secrets.push(mcp_token.clone());

    let (st, pair) = http.json(
        "POST",
        "/api/v2/auth/token",
        None,
        json!({"api_key": api_key, "api_secret": api_secret}),
    );
    assert_eq!(st, 200);
    let (key_access, key_refresh) = (s(&pair, "access_token"), s(&pair, "refresh_token"));
    secrets.extend([key_access.clone(), key_refresh.clone()]);
    let (st, _) = http.json(
        "POST",
        "/api/v2/auth/token",
        None,
        json!({"api_key": api_key, "api_secret": format!("{api_secret}x")}),
    );
    assert_eq!(st, 401);
    // A malformed body that contains the secret.
    let (st, _) = http.send(
        "POST",
        "/api/v2/auth/token",
        &[],
        Some(&format!(
            "{{\"api_key\": \"{api_key}\", \"api_secret\": \"{api_secret}\""
        )),
    );
    assert_eq!(st, 400);

    let (st, next) = http.json(
        "POST",
        "/api/v2/auth/refresh",
        None,
        json!({"refresh_token": key_refresh}),
    );
    assert_eq!(st, 200);
    secrets.extend([s(&next, "access_token"), s(&next, "refresh_token")]);
    // Reuse of the rotated token (within the grace window, then as theft is the same path).
    let (st, _) = http.json(
        "POST",
        "/api/v2/auth/refresh",
        None,
        json!({"refresh_token": key_refresh}),
    );
    assert_eq!(st, 401);

    // ?token= on GET works and on POST is refused; wrong families as bearer.
    assert_eq!(
        http.send(
            "GET",
            &format!("/api/v2/me?token={login_access}"),
            &[],
            None
        )
        .0,
        200
    );
    assert_eq!(
        http.send(
            "GET",
            &format!("/api/v2/posts?limit=1&token={login_access}"),
            &[],
            None
        )
        .0,
        200
    );
    assert_eq!(
        http.send(
            "POST",
            &format!("/api/v2/posts?token={login_access}"),
            &[],
            Some("{\"title\":\"x\"}")
        )
        .0,
        401
    );
    assert_eq!(
        http.send(
            "GET",
            &format!("/api/v2/nowhere?token={login_access}"),
            &[],
            None
        )
        .0,
        404
    );
    for wrong in [&mcp_token, &key_refresh, &api_secret] {
        assert_eq!(http.get("/api/v2/me", wrong).0, 401);
    }
    assert_eq!(
        http.get("/api/v2/me", &format!("{login_access}tampered")).0,
        401
    );
    assert_eq!(
        http.json(
            "POST",
            "/api/v2/posts",
            Some(&key_access),
            json!({"title": "logged?"})
        )
        .0,
        201
    );

    // v1: the key pair itself on every request; right, wrong secret, wrong family.
    let v1 = [
        ("X-API-Key", api_key.as_str()),
        ("X-API-Secret", api_secret.as_str()),
    ];
    assert_eq!(http.send("GET", "/api/v1/posts?page=1", &v1, None).0, 200);
    let (st, _) = http.send(
        "POST",
        "/api/v1/posts/create",
        &v1,
        Some("{\"title\":\"v1 logged?\"}"),
    );
    assert_eq!(st, 201);
    let wrong_secret = format!("{api_secret}x");
    let wrong = [
        ("X-API-Key", api_key.as_str()),
        ("X-API-Secret", wrong_secret.as_str()),
    ];
    assert_eq!(http.send("GET", "/api/v1/posts", &wrong, None).0, 401);
    let family = [
        ("X-API-Key", mcp_token.as_str()),
        ("X-API-Secret", api_secret.as_str()),
    ];
    assert_eq!(http.send("GET", "/api/v1/posts", &family, None).0, 401);
    // A bulk import with an Idempotency-Key, and its replay.
    let bearer = format!("Bearer {key_access}");
    let bulk = [
        ("Authorization", bearer.as_str()),
        ("Idempotency-Key", "log-test"),
    ];
    for _ in 0..2 {
        let (st, _) = http.send(
            "POST",
            "/api/v2/bulk/posts",
            &bulk,
            Some("{\"posts\":[{\"title\":\"bulk logged?\"}]}"),
        );
        assert_eq!(st, 200);
    }

    // The pull key and webhook secret: made by a rotation, then used and misused.
    let (st, me) = http.get("/api/v2/me", &owner_access);
    assert_eq!(st, 200);
    let site_id = me["data"]["site"]["id"].as_i64().unwrap();
    let (st, rotated) = http.json(
        "POST",
        &format!("/api/v2/sites/{site_id}/rotate-keys"),
        Some(&owner_access),
        json!({"overlap_seconds": 60}),
    );
    assert_eq!(st, 200, "{rotated}");
    let pull_key = s(&rotated, "new_api_key");
    secrets.extend([pull_key.clone(), s(&rotated, "new_webhook_secret")]);
    let pull = [("X-API-Key", pull_key.as_str())];
    assert_eq!(
        http.send("GET", "/api/v2/pull/posts?limit=1", &pull, None)
            .0,
        200
    );
    assert_eq!(http.get("/api/v2/me", &pull_key).0, 401);
    let tampered = format!("{pull_key}x");
    let wrong = [("X-API-Key", tampered.as_str())];
    assert_eq!(http.send("GET", "/api/v2/pull/posts", &wrong, None).0, 401);

    let (st, me) = http.get("/api/v2/me", &owner_access);
    assert_eq!(st, 200);
    let owner_id = me["data"]["user"]["id"].as_i64().unwrap();
    let (st, _) = http.json(
        "PATCH",
        &format!("/api/v2/users/{owner_id}"),
        Some(&owner_access),
        json!({"password": new_password, "current_password": password}),
    );
    assert_eq!(st, 200);
    let (st, _) = http.json(
        "POST",
        "/api/v2/auth/revoke",
        None,
        json!({"refresh_token": login_refresh}),
    );
    assert_eq!(st, 200);
    secrets
}

async fn no_secret_in_trace_logs(backend: Backend, format: &str) {
    let Some(db) = TestDatabase::new(backend).await else {
        return eprintln!("skipped: JEKCMS_TEST_POSTGRES_URL is not set");
    };
    let media =
        std::env::temp_dir().join(format!("jekcms_logs_{}_{backend:?}", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_jekcms"));
    command.env_clear();
    // PostgreSQL needs the key from the environment; SQLite generates one beside the database.
    let configured_key = (backend == Backend::Postgres).then(|| {
        use ring::rand::SecureRandom;
        let mut key = [0u8; 32];
        ring::rand::SystemRandom::new().fill(&mut key).unwrap();
        hex::encode(key)
    });
    if let Some(key) = &configured_key {
        command.env("JEKCMS_SECRET_KEY", key);
    }
    let mut child = command
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("JEKCMS_DATABASE_URL", db.url())
        .env("JEKCMS_BIND", "127.0.0.1:0")
        .env("JEKCMS_MEDIA_DIR", &media)
        .env("JEKCMS_LOG", "trace")
        .env("JEKCMS_LOG_FORMAT", format)
        .env("JEKCMS_OPEN_REGISTRATION", "true")
        // The walk makes more credential calls (and deliberately failed v1 key checks, which
        // count too) than the default per-IP quota of 10 a minute allows.
        .env("JEKCMS_RATE_LIMIT_AUTH", "1000/min")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = stderr.read_to_string(&mut log);
        log
    });
    let addr = common::listening_address(&mut child);
    let http = Http { addr };
    let mut secrets = tokio::task::spawn_blocking(move || exercise(&http))
        .await
        .unwrap();
    let secret_key = configured_key.unwrap_or_else(|| {
        let path = db.url().strip_prefix("sqlite://").unwrap();
        std::fs::read_to_string(format!("{path}.key"))
            .expect("the generated key is in a file beside the database")
            .trim()
            .to_owned()
    });
    secrets.push(secret_key);
    let _ = child.kill();
    let _ = child.wait();
    let log = log_reader.join().unwrap();
    let _ = std::fs::remove_dir_all(&media);

    // The capture works: every request left an access-log line, and trace is on.
    for path in [
        "/api/v2/auth/register",
        "/api/v2/auth/login",
        "/api/v2/auth/token",
        "/api/v2/me",
        "/api/v2/nowhere",
        "/api/v1/posts",
        "/api/v2/bulk/posts",
    ] {
        assert!(log.contains(path), "no log line for {path}:\n{log}");
    }
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "JEKCMS_LOG=trace was not applied"
    );
    assert_eq!(secrets.len(), 16, "every secret handled is checked");
    if format == "json" {
        // One JSON object per line; access lines carry what a log pipeline groups by.
        let mut access = 0;
        for line in log.lines().filter(|l| !l.trim().is_empty()) {
            let event: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
            if event["target"] == "jekcms::access" {
                access += 1;
                for field in ["request_id", "method", "path", "route", "status", "micros"] {
                    assert!(!event[field].is_null(), "no {field} in {line}");
                }
            }
        }
        assert!(access >= 7, "{access} access lines");
        assert!(
            log.lines()
                .any(|l| l.contains(r#""route":"/api/v2/auth/token""#)),
            "access lines name their route template"
        );
        assert!(
            log.lines()
                .any(|l| l.contains(r#""path":"/api/v2/nowhere""#) && l.contains(r#""route":"-""#)),
            "an unmatched request has no route"
        );
    }
    for secret in &secrets {
        // The whole secret, and its last 16 characters (a secret logged without its prefix
        // or cut short still leaks).
        let tail = &secret[secret.len() - 16..];
        assert!(
            !log.contains(secret.as_str()) && !log.contains(tail),
            "a secret reached the log ({}…)",
            &secret[..6]
        );
    }
}

#[actix_web::test]
async fn no_secret_reaches_the_logs_sqlite() {
    no_secret_in_trace_logs(Backend::Sqlite, "text").await;
}

#[actix_web::test]
async fn no_secret_reaches_the_logs_postgres() {
    no_secret_in_trace_logs(Backend::Postgres, "text").await;
}

/// `JEKCMS_LOG_FORMAT=json` (#19): the same walk, every line a JSON object, still no secret.
#[actix_web::test]
async fn json_logs_are_one_object_per_line_without_secrets() {
    no_secret_in_trace_logs(Backend::Sqlite, "json").await;
}
