//! `jekcms keys create` (API.md §0): creates the site and user when missing and prints
//! exactly the documented JSON object; the key it prints works.

use jekcms_server::cli::{CreateKey, Family, create_key};
use jekcms_server::config::Config;
use jekcms_server::state::AppState;
use jekcms_store::testing::TestDatabase;
use jekcms_store::{Backend, Store};
use serde_json::Value;

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

async fn keys_create(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let mut config = Config::from_lookup(|_| None).unwrap();
    config.database_url = db.url().to_owned();
    if backend == Backend::Postgres {
        config.secret_key = Some(crate::helpers::test_secret_key());
    }
    config.media_dir = std::env::temp_dir().join(format!(
        "jekcms_cli_media_{}_{backend:?}",
        std::process::id()
    ));
    let args = |family, role: &str| CreateKey {
        user: "Dev@Example.com".into(),
        role: Some(role.into()),
        site: "blog".into(),
        family,
        name: "ci".into(),
        json: true,
    };
    let api: Value = serde_json::from_str(
        &create_key(&config, &args(Family::Api, "editor"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        keys(&api),
        [
            "api_key",
            "api_secret",
            "family",
            "key_id",
            "site_id",
            "user_id"
        ]
    );
    assert_eq!(api["family"], "api");
    assert!(api["api_key"].as_str().unwrap().starts_with("api_"));
    assert!(api["api_secret"].as_str().unwrap().starts_with("sk_"));

    let mcp: Value = serde_json::from_str(
        &create_key(&config, &args(Family::Mcp, "editor"))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        keys(&mcp),
        ["family", "key_id", "site_id", "token", "user_id"]
    );
    assert!(mcp["token"].as_str().unwrap().starts_with("mcp_"));
    assert_eq!(
        (&mcp["user_id"], &mcp["site_id"]),
        (&api["user_id"], &api["site_id"]),
        "same user and site reused"
    );
    assert_ne!(mcp["key_id"], api["key_id"]);

    assert!(
        create_key(&config, &args(Family::Api, "root"))
            .await
            .unwrap_err()
            .to_string()
            .starts_with("--role")
    );

    // The printed key and secret are exchanged for a pair acting as that user.
    let store = Store::connect(db.url(), Default::default()).await.unwrap();
    let state = AppState::with_store(config.clone(), store).await.unwrap();
    let pair = state
        .tokens
        .exchange_api_key(
            api["api_key"].as_str().unwrap(),
            api["api_secret"].as_str().unwrap(),
        )
        .await
        .unwrap();
    let principal = state.tokens.authenticate(&pair.access_token).await.unwrap();
    assert_eq!(principal.user_email, "dev@example.com");
    assert_eq!(principal.role, jekcms_auth::Role::Editor);
    assert_eq!(principal.site_slug, "blog");
    let _ = std::fs::remove_dir_all(&config.media_dir);
}

/// `keys create` never takes over a site: no second owner for a site that has one, no
/// `--role` silently ignored; and registration never takes the operator's `default`.
async fn keys_create_takes_over_no_site(backend: Backend) {
    let Some(db) = TestDatabase::new(backend).await else {
        return;
    };
    let mut config = Config::from_lookup(|_| None).unwrap();
    config.database_url = db.url().to_owned();
    let store = Store::connect(db.url(), Default::default()).await.unwrap();
    let run = |user: &str, role: Option<&str>, site: &str| {
        let args = CreateKey {
            user: user.into(),
            role: role.map(str::to_owned),
            site: site.into(),
            family: Family::Api,
            name: "ci".into(),
            json: true,
        };
        let config = config.clone();
        async move {
            create_key(&config, &args)
                .await
                .map(|out| serde_json::from_str::<Value>(&out).unwrap())
                .map_err(|e| e.to_string())
        }
    };

    // A registrant naming their site "Default" does not get the operator's slug ...
    let owner = jekcms_accounts::model::NewUser {
        name: "Reg".into(),
        email: "reg@example.com".into(),
        role: jekcms_auth::Role::Owner,
        password_hash: None,
    };
    let (registered, _) = jekcms_accounts::AccountStore::register(
        &store,
        "Default",
        jekcms_auth::Plan::Unlimited,
        owner,
    )
    .await
    .unwrap();
    assert_ne!(registered.slug, "default");
    // ... so the operator's first key lands in a site of their own.
    let op = run("op@example.com", None, "default").await.unwrap();
    assert_ne!(op["site_id"], registered.id);

    // No second owner slipped into a site that has one (the registrant's, or the operator's).
    for site in [registered.slug.as_str(), "default"] {
        let e = run("intruder@example.com", None, site).await.unwrap_err();
        assert!(e.contains("already has an owner"), "{e}");
        let e = run("intruder@example.com", Some("owner"), site)
            .await
            .unwrap_err();
        assert!(e.contains("already has an owner"), "{e}");
    }
    assert_eq!(store.count_owners(registered.id).await.unwrap(), 1);
    // A lower role may be added; an existing user keeps theirs unless --role matches it.
    let ed = run("ed@example.com", Some("editor"), "default")
        .await
        .unwrap();
    let e = run("ed@example.com", Some("admin"), "default")
        .await
        .unwrap_err();
    assert!(
        e.starts_with("--role") && e.contains("already editor"),
        "{e}"
    );
    let again = run("ed@example.com", None, "default").await.unwrap();
    assert_eq!(again["user_id"], ed["user_id"]);
    run("ed@example.com", Some("editor"), "default")
        .await
        .unwrap();
    run("op@example.com", Some("owner"), "default")
        .await
        .unwrap();
    let e = run("op@example.com", Some("viewer"), "default")
        .await
        .unwrap_err();
    assert!(e.starts_with("--role"), "{e}");
}

#[actix_web::test]
async fn keys_create_takes_over_no_site_sqlite() {
    keys_create_takes_over_no_site(Backend::Sqlite).await;
}

#[actix_web::test]
async fn keys_create_takes_over_no_site_postgres() {
    keys_create_takes_over_no_site(Backend::Postgres).await;
}

#[actix_web::test]
async fn keys_create_sqlite() {
    keys_create(Backend::Sqlite).await;
}

#[actix_web::test]
async fn keys_create_postgres() {
    keys_create(Backend::Postgres).await;
}
