//! The `jekcms-cli` binary itself: credentials from the environment, exit statuses, and
//! the secret never printed.

use crate::support::{Scratch, TestServer};
use std::process::{Command, Output};

async fn run(server: &TestServer, secret: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jekcms-cli"));
    cmd.args(args)
        .env("JEKCMS_URL", &server.base_url)
        .env("JEKCMS_API_KEY", &server.api_key)
        .env("JEKCMS_API_SECRET", secret);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binary_exports_and_imports_without_showing_the_secret() {
    let scratch = Scratch::new("binary");
    let server = TestServer::start(|_| {}).await;
    let secret = server.api_secret.clone();
    let input = scratch.path("in.jsonl");
    std::fs::write(
        &input,
        "{\"title\":\"One\",\"status\":\"published\"}\n{\"title\":\"Two\"}\n{\"title\":\"\"}\n",
    )
    .unwrap();
    let input = input.to_str().unwrap();
    let report = scratch.path("failures.jsonl");

    let out = run(
        &server,
        &secret,
        &[
            "import",
            input,
            "--json",
            "--report",
            report.to_str().unwrap(),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "one item failed: {stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["created"].as_u64(), summary["failed"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(stderr.contains("2 created"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&report).unwrap().lines().count(), 1);

    // Again: both posts are there already (the empty title fails again).
    let again = run(&server, &secret, &["--quiet", "import", input, "--json"]).await;
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["skipped_existing"], 2);

    // Export to stdout: one line per post, in creation order.
    let out = run(&server, &secret, &["export"]).await;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let titles: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["title"].to_string())
        .collect();
    assert_eq!(titles, ["\"One\"", "\"Two\""]);
    for o in [&out.stderr, &again.stderr] {
        assert!(!String::from_utf8_lossy(o).contains(&secret));
    }

    // A wrong secret: status 1, a message, and neither secret in it.
    let wrong = "sk_wrong_secret_value_1234567890";
    let out = run(&server, wrong, &["export"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("AUTH_INVALID"), "{stderr}");
    assert!(
        !stderr.contains(wrong) && !stderr.contains(&secret),
        "{stderr}"
    );

    // Help names the variables but shows no value.
    let out = run(&server, &secret, &["export", "--help"]).await;
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("JEKCMS_API_SECRET"), "{help}");
    assert!(!help.contains(&secret), "{help}");
    assert!(!help.contains("JEKCMS_URL="), "no dangling `=`: {help}");
    server.stop().await;
}

/// #20: `-` reads standard input (format told by the content), a base URL copied with its
/// `/api/v2` works, and a server that is not there is named in plain words.
#[tokio::test(flavor = "multi_thread")]
async fn stdin_api_urls_and_a_missing_server() {
    let server = TestServer::start(|_| {}).await;
    let secret = server.api_secret.clone();
    let base = format!("{}/api/v2/", server.base_url);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jekcms-cli"));
    cmd.args(["--quiet", "--url", &base, "import", "-", "--json"])
        .env("JEKCMS_API_KEY", &server.api_key)
        .env("JEKCMS_API_SECRET", &secret)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"{\"title\":\"From stdin\"}\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["created"], 1, "{summary}");

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jekcms-cli"));
    cmd.args(["--url", &format!("http://127.0.0.1:{port}"), "export"])
        .env("JEKCMS_API_KEY", &server.api_key)
        .env("JEKCMS_API_SECRET", &secret);
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!("error: connection refused — is the server running at http://127.0.0.1:{port}?")
    );
    server.stop().await;
}
