//! Sites, licenses and plans (API.md §8): the per-site quotas of a plan over every
//! credential of the site, `GET`/`PATCH /api/v2/site`, and the operator's `jekcms sites`.

use crate::helpers::{Resp, TestApp, both_stores};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use jekcms_auth::{Plan, Role};
use jekcms_ratelimit::{Quota, SiteQuotas};
use jekcms_server::config::Config;
use jekcms_server::sites_cli::{self, CreateSite, OnOff, SetSite, SitesCommand};
use jekcms_store::Backend;
use serde_json::{Value, json};

fn num(r: &Resp, name: &str) -> u64 {
    r.header(name)
        .unwrap_or_else(|| panic!("missing {name}"))
        .parse()
        .unwrap()
}

fn sorted_keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

/// Where quotas are kept in a test run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Counting {
    InProcess,
    Redis,
}

fn redis_url() -> Option<String> {
    std::env::var("JEKCMS_TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty())
}

fn unique_prefix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "jekcms-test:sites:{}:{}:{}:",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn app_with(
    backend: Backend,
    counting: Counting,
    tweak: impl FnOnce(&mut Config) + 'static,
) -> Option<TestApp> {
    let redis = match counting {
        Counting::InProcess => None,
        Counting::Redis => Some(redis_url().or_else(|| {
            eprintln!("skipped: JEKCMS_TEST_REDIS_URL is not set");
            None
        })?),
    };
    let prefix = unique_prefix();
    TestApp::new(backend, move |c| {
        c.redis_url = redis;
        c.redis_prefix = prefix;
        tweak(c);
    })
    .await
}

/// A v1 request with a key pair.
async fn v1_get(app: &TestApp, key: &str, secret: &str, path: &str) -> Resp {
    app.call(
        TestRequest::default()
            .method(Method::GET)
            .uri(path)
            .insert_header(("x-api-key", key))
            .insert_header(("x-api-secret", secret)),
    )
    .await
}

/// The 101st management request of a `starter` site in an hour is 429, counted over every
/// credential of the site (two users' keys, their v2 sessions and v1 calls) and, with Redis,
/// over two instances; `/auth/*` is not counted; another site is unaffected.
async fn starter_site_quota(backend: Backend, counting: Counting) {
    let Some(app) = app_with(backend, counting, |_| {}).await else {
        return;
    };
    // With Redis, half of the requests go through a second instance.
    let other_instance = match counting {
        Counting::Redis => Some(app.another_instance().await),
        Counting::InProcess => None,
    };
    let via = |i: usize| match &other_instance {
        Some(b) if i % 2 == 1 => b,
        _ => &app,
    };
    let owner = app.owner().await;
    let editor = app
        .login("default", "editor@example.com", Role::Editor)
        .await;
    let (v1_key, v1_secret, _, _) = app
        .api_key("default", "editor@example.com", Role::Editor)
        .await;
    app.state
        .store
        .set_site_plan(owner.site_id, Plan::Starter)
        .await
        .unwrap();
    let other = app.login("other", "owner@other.example", Role::Owner).await;
    app.state
        .store
        .set_site_plan(other.site_id, Plan::Starter)
        .await
        .unwrap();

    let mut refresh = editor.refresh.clone();
    for i in 0..100usize {
        let r = match i % 3 {
            0 => via(i).get("/api/v2/posts", &owner.access).await,
            1 => via(i).get("/api/v2/me", &editor.access).await,
            _ => v1_get(via(i), &v1_key, &v1_secret, "/api/v1/posts").await,
        };
        assert_eq!(r.status, 200, "request {}: {:?}", i + 1, r.body);
        // The site's quota is far closer to running out than each key's (1,000,000/s).
        assert_eq!(num(&r, "x-ratelimit-limit"), 100, "request {}", i + 1);
        assert_eq!(num(&r, "x-ratelimit-remaining"), 99 - i as u64);
        let policy = r.header("ratelimit-policy").unwrap();
        assert!(policy.contains("\"site\";q=100;w=3600"), "{policy}");
        assert!(
            policy.contains("\"key\";q=1000000;w=1"),
            "the key's quota is listed too: {policy}"
        );
        if i % 25 == 0 {
            // Refreshing (an /auth/* request) is not counted.
            let v = via(i).refresh(&refresh).await.expect(200);
            refresh = v["data"]["refresh_token"].as_str().unwrap().to_owned();
        }
    }
    let refused = app.get("/api/v2/posts", &owner.access).await;
    let v = refused.expect_error(429, "RATE_LIMITED");
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("site's management API quota"),
        "{v}"
    );
    let retry = num(&refused, "retry-after");
    assert!((1..=36).contains(&retry), "{retry}");
    assert_eq!(num(&refused, "x-ratelimit-limit"), 100);
    assert_eq!(num(&refused, "x-ratelimit-remaining"), 0);
    // Over every credential: the other user's key and v1 are refused too.
    via(1)
        .get("/api/v2/me", &editor.access)
        .await
        .expect_error(429, "RATE_LIMITED");
    assert_eq!(
        v1_get(&app, &v1_key, &v1_secret, "/api/v1/posts")
            .await
            .status,
        429
    );
    // Signing in still works (not counted, not refused).
    app.login("default", "author@example.com", Role::Author)
        .await;
    // Another starter site has its own quota.
    let r = app.get("/api/v2/posts", &other.access).await;
    r.expect(200);
    assert_eq!(num(&r, "x-ratelimit-remaining"), 99);
    // A bigger plan applies on the next request.
    app.state
        .store
        .set_site_plan(owner.site_id, Plan::Pro)
        .await
        .unwrap();
    let r = app.get("/api/v2/posts", &owner.access).await;
    r.expect(200);
    assert_eq!(num(&r, "x-ratelimit-limit"), 1000);
    if let Some(b) = other_instance {
        b.get("/api/v2/posts", &owner.access).await.expect(200);
    }
}

/// `X-RateLimit-*` and `RateLimit` describe the quota closest to running out, and the first
/// quota used up answers; `RateLimit-Policy` lists both.
async fn headers_describe_the_closest_quota(backend: Backend, counting: Counting) {
    let Some(app) = app_with(backend, counting, |c| {
        c.rate_limit_standard = Some(Quota::parse("10/min").unwrap());
        c.plans.starter = SiteQuotas::parse("12/hour,none").unwrap();
    })
    .await
    else {
        return;
    };
    let owner = app.owner().await; // admin tier: 1,000,000/s
    let editor = app
        .login("default", "editor@example.com", Role::Editor)
        .await;
    app.state
        .store
        .set_site_plan(owner.site_id, Plan::Starter)
        .await
        .unwrap();
    let policy = "\"key\";q=10;w=60, \"site\";q=12;w=3600";

    // The editor's key: 9 left of 10; the site: 11 of 12. The key is closer.
    let r = app.get("/api/v2/posts", &editor.access).await;
    assert_eq!(r.header("ratelimit-policy"), Some(policy));
    assert_eq!(num(&r, "x-ratelimit-limit"), 10);
    assert_eq!(num(&r, "x-ratelimit-remaining"), 9);
    assert!(r.header("ratelimit").unwrap().starts_with("\"key\";r=9;"));
    // The owner spends the site down to 3.
    for _ in 0..8 {
        app.get("/api/v2/posts", &owner.access).await.expect(200);
    }
    // The editor's key: 8 left; the site: 2. Now the site is closer.
    let r = app.get("/api/v2/posts", &editor.access).await;
    assert_eq!(r.header("ratelimit-policy"), Some(policy));
    assert_eq!(num(&r, "x-ratelimit-limit"), 12);
    assert_eq!(num(&r, "x-ratelimit-remaining"), 2);
    assert!(r.header("ratelimit").unwrap().starts_with("\"site\";r=2;"));
    for _ in 0..2 {
        app.get("/api/v2/posts", &editor.access).await.expect(200);
    }
    // The site runs out first: 429 although the key has requests left.
    let r = app.get("/api/v2/posts", &editor.access).await;
    r.expect_error(429, "RATE_LIMITED");
    assert_eq!(r.header("ratelimit-policy"), Some(policy));
    assert!(r.header("ratelimit").unwrap().starts_with("\"site\";r=0;"));
    assert!(num(&r, "retry-after") >= 1);
}

/// Each scenario on both stores, counting in process and in Redis.
macro_rules! on_both {
    ($($name:ident),*) => {$(
        mod $name {
            use super::Counting::{InProcess, Redis};
            use jekcms_store::Backend::{Postgres, Sqlite};
            #[actix_web::test]
            async fn sqlite() { super::$name(Sqlite, InProcess).await }
            #[actix_web::test]
            async fn postgres() { super::$name(Postgres, InProcess).await }
            #[actix_web::test]
            async fn sqlite_redis() { super::$name(Sqlite, Redis).await }
            #[actix_web::test]
            async fn postgres_redis() { super::$name(Postgres, Redis).await }
        }
    )*};
}

on_both!(starter_site_quota, headers_describe_the_closest_quota);

/// Runs the real `jekcms` binary on the app's database.
fn jekcms(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_jekcms"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("JEKCMS_DATABASE_URL", app.db.url())
        .env("JEKCMS_LOG", "warn")
        .args(args)
        .output()
        .unwrap()
}

async fn sites_cmd(app: &TestApp, command: SitesCommand) -> Result<String, String> {
    sites_cli::run(app.config(), &command)
        .await
        .map_err(|e| e.to_string())
}

fn set(slug: &str) -> SetSite {
    SetSite {
        slug: slug.into(),
        plan: None,
        api_access: None,
        name: None,
        json: true,
    }
}

both_stores! {
    async fn license_off_is_402_on_the_next_request(app) {
        let owner = app.owner().await;
        let (key, secret, _, _) = app.api_key("default", "v1@example.com", Role::Editor).await;
        app.get("/api/v2/posts", &owner.access).await.expect(200);

        // Through the real command, as an operator runs it.
        let out = jekcms(&app, &["sites", "set", "default", "--api-access", "off", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let site: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((&site["slug"], &site["api_access"]), (&json!("default"), &json!(false)));

        app.get("/api/v2/posts", &owner.access).await.expect_error(402, "LICENSE_REQUIRED");
        app.get("/api/v2/site", &owner.access).await.expect_error(402, "LICENSE_REQUIRED");
        let v1 = v1_get(&app, &key, &secret, "/api/v1/posts").await;
        assert_eq!(v1.status, 402);
        assert!(v1.json()["error"].is_string());

        // An unknown slug: a non-zero exit and one clear line.
        let out = jekcms(&app, &["sites", "set", "nope", "--api-access", "on"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no site with slug nope"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");

        // Back on, through the function the command calls.
        let mut on = set("default");
        on.api_access = Some(OnOff::On);
        sites_cmd(&app, SitesCommand::Set(on)).await.unwrap();
        app.get("/api/v2/posts", &owner.access).await.expect(200);
        assert_eq!(v1_get(&app, &key, &secret, "/api/v1/posts").await.status, 200);
    }

    async fn sites_commands_print_the_site_object(app) {
        let create = |slug: &str, plan: Option<Plan>, json: bool| CreateSite {
            slug: slug.into(),
            name: Some("My blog".into()),
            plan,
            json,
        };
        let made: Value = serde_json::from_str(
            &sites_cmd(&app, SitesCommand::Create(create("my-blog", Some(Plan::Starter), true))).await.unwrap(),
        )
        .unwrap();
        assert_eq!(
            sorted_keys(&made),
            ["api_access", "cors_origins", "created_at", "id", "name", "plan", "pull_key", "quotas", "slug"]
        );
        assert_eq!(made["slug"], "my-blog");
        assert_eq!(made["name"], "My blog");
        assert_eq!(made["plan"], "starter");
        assert_eq!(made["api_access"], true);
        assert_eq!(made["cors_origins"], json!([]));
        assert_eq!(made["pull_key"], Value::Null);
        assert_eq!(
            made["quotas"],
            json!({"management": {"limit": 100, "window": "hour"}, "pull": {"limit": 500, "window": "hour"}})
        );

        // Taken, bad slug, unknown slug, nothing to change: one clear error each.
        let e = sites_cmd(&app, SitesCommand::Create(create("my-blog", None, true))).await.unwrap_err();
        assert!(e.contains("already exists"), "{e}");
        let e = sites_cmd(&app, SitesCommand::Create(create("My Blog!", None, true))).await.unwrap_err();
        assert!(e.contains("SLUG"), "{e}");
        let e = sites_cmd(&app, SitesCommand::Set(SetSite { plan: Some(Plan::Pro), ..set("nope") })).await.unwrap_err();
        assert!(e.contains("no site with slug nope"), "{e}");
        let e = sites_cmd(&app, SitesCommand::Set(set("my-blog"))).await.unwrap_err();
        assert!(e.contains("nothing to change"), "{e}");

        // Without --plan: the default plan (unlimited here): no per-site quota.
        let plain: Value = serde_json::from_str(
            &sites_cmd(&app, SitesCommand::Create(CreateSite { name: None, ..create("plain", None, true) })).await.unwrap(),
        )
        .unwrap();
        assert_eq!((&plain["plan"], &plain["name"]), (&json!("unlimited"), &json!("plain")));
        assert_eq!(plain["quotas"], json!({"management": null, "pull": null}));

        let changed: Value = serde_json::from_str(
            &sites_cmd(
                &app,
                SitesCommand::Set(SetSite {
                    plan: Some(Plan::Agency),
                    api_access: Some(OnOff::Off),
                    name: Some(" Renamed ".into()),
                    ..set("plain")
                }),
            )
            .await
            .unwrap(),
        )
        .unwrap();
        assert_eq!(sorted_keys(&changed), sorted_keys(&made));
        assert_eq!(
            (&changed["plan"], &changed["api_access"], &changed["name"], &changed["id"]),
            (&json!("agency"), &json!(false), &json!("Renamed"), &plain["id"])
        );
        assert_eq!(changed["quotas"]["management"], json!({"limit": 10000, "window": "hour"}));

        let list: Value = serde_json::from_str(
            &sites_cmd(&app, SitesCommand::List { json: true }).await.unwrap(),
        )
        .unwrap();
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0], made, "the list shows each site as create/set print it");
        assert_eq!(list[1], changed);

        // Without --json: a table, a line.
        let table = sites_cmd(&app, SitesCommand::List { json: false }).await.unwrap();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("ID") && lines[0].contains("PLAN"), "{table}");
        assert!(lines[1].contains("my-blog") && lines[1].contains("starter"), "{table}");
        assert!(lines[2].contains("plain") && lines[2].contains("off"), "{table}");
        let line = sites_cmd(&app, SitesCommand::Set(SetSite { json: false, plan: Some(Plan::Pro), ..set("plain") })).await.unwrap();
        assert!(line.contains("site plain") && line.contains("plan pro") && !line.contains('\n'), "{line}");

        // The binary: list --json is the same array; a bad plan is refused.
        let out = jekcms(&app, &["sites", "list", "--json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed.as_array().unwrap().len(), 2);
        assert_eq!(printed[0]["slug"], "my-blog");
        let out = jekcms(&app, &["sites", "create", "x", "--plan", "gold"]);
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("plan must be one of"));
    }

    async fn get_and_patch_the_site(app) {
        let owner = app.owner().await;
        let editor = app.login("default", "editor@example.com", Role::Editor).await;
        let viewer = app.login("default", "viewer@example.com", Role::Viewer).await;

        let v = app.get("/api/v2/site", &viewer.access).await.expect(200);
        let site = &v["data"];
        assert_eq!(
            sorted_keys(site),
            ["api_access", "cors_origins", "created_at", "id", "name", "plan", "pull_key", "quotas", "slug"]
        );
        assert_eq!(site["id"], owner.site_id);
        assert_eq!(site["slug"], "default");
        assert_eq!(site["plan"], "unlimited");
        assert_eq!(site["api_access"], true);
        assert_eq!(site["cors_origins"], json!([]));
        assert_eq!(site["quotas"], json!({"management": null, "pull": null}));
        assert_eq!(site["pull_key"], Value::Null);

        // Owners only.
        let body = json!({"name": "Mine now"});
        app.patch("/api/v2/site", &editor.access, body.clone()).await.expect_error(403, "FORBIDDEN");
        app.patch("/api/v2/site", &viewer.access, body).await.expect_error(403, "FORBIDDEN");

        // Unknown fields (the plan and the license are the operator's), bad origins, `*`.
        for (body, field) in [
            (json!({"plan": "agency"}), "plan"),
            (json!({"api_access": true}), "api_access"),
            (json!({"slug": "x"}), "slug"),
            (json!({"name": ""}), "name"),
            (json!({"cors_origins": ["*"]}), "cors_origins[0]"),
            (json!({"cors_origins": ["https://ok.example", "https://example.com/"]}), "cors_origins[1]"),
            (json!({"cors_origins": ["example.com"]}), "cors_origins[0]"),
            (json!({"cors_origins": ["ftp://example.com"]}), "cors_origins[0]"),
            (json!({"cors_origins": "https://example.com"}), "cors_origins"),
        ] {
            let r = app.patch("/api/v2/site", &owner.access, body.clone()).await;
            r.expect_error(422, "VALIDATION_FAILED");
            assert_eq!(r.field(), field, "{body}");
        }
        let many: Vec<String> = (0..51).map(|i| format!("https://s{i}.example")).collect();
        let r = app.patch("/api/v2/site", &owner.access, json!({"cors_origins": many})).await;
        r.expect_error(422, "VALIDATION_FAILED");
        assert_eq!(r.field(), "cors_origins");
        // Nothing was changed by the refusals.
        let v = app.get("/api/v2/site", &owner.access).await.expect(200);
        assert_eq!((&v["data"]["name"], &v["data"]["cors_origins"]), (&json!("default"), &json!([])));

        // The round trip: normalised as browsers send Origin, sorted, without duplicates.
        let v = app
            .patch(
                "/api/v2/site",
                &owner.access,
                json!({
                    "name": "My blog",
                    "cors_origins": ["https://WWW.Example.com", "http://localhost:3000", "https://www.example.com:443"]
                }),
            )
            .await
            .expect(200);
        let origins = json!(["http://localhost:3000", "https://www.example.com"]);
        assert_eq!((&v["data"]["name"], &v["data"]["cors_origins"]), (&json!("My blog"), &origins));
        let v = app.get("/api/v2/site", &editor.access).await.expect(200);
        assert_eq!((&v["data"]["name"], &v["data"]["cors_origins"]), (&json!("My blog"), &origins));
        // A name alone keeps the origins; origins replace the whole set.
        let v = app.patch("/api/v2/site", &owner.access, json!({"name": "Blog"})).await.expect(200);
        assert_eq!(v["data"]["cors_origins"], origins);
        let v = app
            .patch("/api/v2/site", &owner.access, json!({"cors_origins": ["https://new.example"]}))
            .await
            .expect(200);
        assert_eq!((&v["data"]["name"], &v["data"]["cors_origins"]), (&json!("Blog"), &json!(["https://new.example"])));
        let v = app.patch("/api/v2/site", &owner.access, json!({"cors_origins": []})).await.expect(200);
        assert_eq!(v["data"]["cors_origins"], json!([]));

        // Another site sees only itself.
        let other = app.login("other", "owner@other.example", Role::Owner).await;
        let v = app.get("/api/v2/site", &other.access).await.expect(200);
        assert_eq!((&v["data"]["slug"], &v["data"]["name"]), (&json!("other"), &json!("other")));

        // The plan shows the configured quotas.
        app.state.store.set_site_plan(owner.site_id, Plan::Pro).await.unwrap();
        let v = app.get("/api/v2/site", &owner.access).await.expect(200);
        assert_eq!(v["data"]["plan"], "pro");
        assert_eq!(
            v["data"]["quotas"],
            json!({"management": {"limit": 1000, "window": "hour"}, "pull": {"limit": 5000, "window": "hour"}})
        );
    }

    async fn new_sites_get_the_default_plan(app) {
        // Registration, as configured for this app (unlimited) ...
        let r = app
            .send(
                Method::POST,
                "/api/v2/auth/register",
                None,
                Some(json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse battery", "site_name": "Ada's"})),
            )
            .await;
        let v = r.expect(201);
        let token = v["data"]["access_token"].as_str().unwrap().to_owned();
        let v = app.get("/api/v2/site", &token).await.expect(200);
        assert_eq!(v["data"]["plan"], "unlimited");
    }
}

/// `JEKCMS_DEFAULT_PLAN` is the plan of sites made by registration, `keys create` and
/// `sites create`.
async fn default_plan_applies_everywhere(backend: Backend) {
    let Some(app) = TestApp::new(backend, |c| c.default_plan = Plan::Pro).await else {
        return;
    };
    let v = app
        .send(
            Method::POST,
            "/api/v2/auth/register",
            None,
            Some(json!({"name": "Ada", "email": "ada@example.com", "password": "correct horse battery", "site_name": "Ada's"})),
        )
        .await
        .expect(201);
    let token = v["data"]["access_token"].as_str().unwrap().to_owned();
    let v = app.get("/api/v2/site", &token).await.expect(200);
    assert_eq!(v["data"]["plan"], "pro");

    let printed = jekcms_server::cli::create_key(
        app.config(),
        &jekcms_server::cli::CreateKey {
            user: "op@example.com".into(),
            role: None,
            site: "fresh".into(),
            family: jekcms_server::cli::Family::Api,
            name: "ci".into(),
            json: true,
        },
    )
    .await
    .unwrap();
    let key: Value = serde_json::from_str(&printed).unwrap();
    let v = app
        .send(
            Method::POST,
            "/api/v2/auth/token",
            None,
            Some(json!({"api_key": key["api_key"], "api_secret": key["api_secret"]})),
        )
        .await
        .expect(200);
    let token = v["data"]["access_token"].as_str().unwrap().to_owned();
    let v = app.get("/api/v2/site", &token).await.expect(200);
    assert_eq!(
        (&v["data"]["slug"], &v["data"]["plan"]),
        (&json!("fresh"), &json!("pro"))
    );

    let made: Value = serde_json::from_str(
        &sites_cmd(
            &app,
            SitesCommand::Create(CreateSite {
                slug: "cli-made".into(),
                name: None,
                plan: None,
                json: true,
            }),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(made["plan"], "pro");
}

mod default_plan_applies_everywhere {
    #[actix_web::test]
    async fn sqlite() {
        super::default_plan_applies_everywhere(jekcms_store::Backend::Sqlite).await
    }
    #[actix_web::test]
    async fn postgres() {
        super::default_plan_applies_everywhere(jekcms_store::Backend::Postgres).await
    }
}
