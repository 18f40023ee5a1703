//! `/mcp` (API.md §11) driven by a real MCP client, rmcp's (the official Rust SDK), over its
//! Streamable HTTP transport against the app on a real port; the transport's HTTP rules and
//! the credential families with plain requests.

use crate::helpers::{TestApp, both_stores};
use crate::media::{PNG, multipart};
use actix_web::http::Method;
use actix_web::test::TestRequest;
use jekcms_auth::{CredentialFamily, Role, SecretHash};
use jekcms_server::server::{Listen, Workers};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ProtocolVersion, ReadResourceRequestParams,
    ResourceContents,
};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

/// The app's state served on `127.0.0.1:0`; its base URL.
async fn serve(app: &TestApp) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (server, _) = jekcms_server::server::start(
        app.state.clone(),
        Listen::Listener(listener),
        Workers {
            count: 1,
            signals: false,
        },
    )
    .unwrap();
    tokio::spawn(server);
    format!("http://{addr}")
}

/// An `mcp_` token of a user of `role` on site `default`: `(token, key row id, user id,
/// the key's listed id)`.
async fn mcp_token(app: &TestApp, email: &str, role: Role) -> (String, i64, i64, String) {
    let store = &app.state.store;
    let site = store.ensure_site("default", "default").await.unwrap();
    let user = store
        .ensure_user(site.id, email, email, role)
        .await
        .unwrap();
    let token = CredentialFamily::Mcp.generate();
    let public_id = format!("mcpid_{}", jekcms_auth::credential::random_base62(16));
    let key = jekcms_accounts::AccountStore::create_key(
        store,
        user.site_id,
        jekcms_accounts::model::NewApiKey {
            user_id: user.id,
            family: jekcms_accounts::KeyFamily::Mcp,
            name: "agent".to_owned(),
            public_id: public_id.clone(),
            secret_hash: SecretHash::of(&token),
            expires_at: None,
        },
    )
    .await
    .unwrap();
    (token, key.id, user.id, public_id)
}

type Client = RunningService<RoleClient, ()>;

/// A connected (initialized) client.
async fn connect(base: &str, token: &str) -> Client {
    let config =
        StreamableHttpClientTransportConfig::with_uri(format!("{base}/mcp")).auth_header(token);
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap()
}

async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// The structured result of a call that must succeed.
async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let r = call(client, tool, args).await;
    assert_ne!(r.is_error, Some(true), "{tool}: {r:?}");
    let value = r
        .structured_content
        .clone()
        .unwrap_or_else(|| panic!("{tool}: no structured content"));
    // The text block carries the same JSON, for clients that read only text.
    let text = r.content[0]
        .as_text()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        value,
        "{tool}"
    );
    value
}

/// The text of a call that must fail as a tool error.
async fn fails(client: &Client, tool: &str, args: Value) -> String {
    let r = call(client, tool, args).await;
    assert_eq!(r.is_error, Some(true), "{tool}: {r:?}");
    r.content[0]
        .as_text()
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// A raw POST to `/mcp` through the app.
async fn post_mcp(
    app: &TestApp,
    bearer: Option<&str>,
    body: &str,
    headers: &[(&str, &str)],
) -> crate::helpers::Resp {
    let mut req = TestRequest::default()
        .method(Method::POST)
        .uri("/mcp")
        .insert_header(("content-type", "application/json"))
        .insert_header(("accept", "application/json, text/event-stream"))
        .set_payload(body.to_owned());
    if let Some(t) = bearer {
        req = req.insert_header(("authorization", format!("Bearer {t}")));
    }
    for (k, v) in headers {
        req = req.insert_header((*k, *v));
    }
    app.call(req).await
}

const TOOLS: [&str; 11] = [
    "create_post",
    "delete_post",
    "get_media",
    "get_post",
    "get_site",
    "list_media",
    "list_posts",
    "publish_post",
    "search_posts",
    "unpublish_post",
    "update_post",
];

both_stores! {
    async fn an_agent_initializes_lists_tools_calls_each_and_reads_a_post(app) {
        let base = serve(&app).await;
        let (token, _, user_id, _) = mcp_token(&app, "owner@example.com", Role::Owner).await;
        let client = connect(&base, &token).await;
        let info = client.peer_info().unwrap();
        assert_eq!(info.protocol_version, ProtocolVersion::V_2025_11_25);
        assert_eq!(info.server_info.as_ref().unwrap().name, "jekcms");

        // Every tool, each with an input and an output schema taken from the REST API's.
        let tools = client.list_all_tools().await.unwrap();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(names, TOOLS);
        for t in &tools {
            assert_eq!(t.input_schema["type"], "object", "{}", t.name);
            assert_eq!(t.output_schema.as_ref().unwrap()["type"], "object", "{}", t.name);
            assert!(!serde_json::to_string(t).unwrap().contains("$ref"), "{}", t.name);
        }
        let create = tools.iter().find(|t| t.name == "create_post").unwrap();
        assert_eq!(create.input_schema["required"], json!(["title"]));
        assert_eq!(create.input_schema["properties"]["title"]["maxLength"], 300);

        // Posts: create, read by id and slug, page through, search, change, publish.
        let first = ok(&client, "create_post", json!({"title": "First post", "tags": ["rust"], "body": "Hello **world**"})).await;
        assert_eq!((&first["author_id"], &first["status"]), (&json!(user_id), &json!("draft")));
        let id = first["id"].as_i64().unwrap();
        let second = ok(&client, "create_post", json!({"title": "Second post"})).await;
        assert_eq!(ok(&client, "get_post", json!({"id": id})).await, first);
        assert_eq!(ok(&client, "get_post", json!({"slug": "first-post"})).await, first);
        let page = ok(&client, "list_posts", json!({"limit": 1})).await;
        assert_eq!((&page["items"][0]["id"], &page["has_more"]), (&second["id"], &json!(true)));
        let next = ok(&client, "list_posts", json!({"limit": 1, "cursor": page["next_cursor"]})).await;
        assert_eq!((&next["items"][0]["id"], &next["next_cursor"]), (&json!(id), &Value::Null));
        let tagged = ok(&client, "list_posts", json!({"tag": ["rust"], "include": "total"})).await;
        assert_eq!((tagged["items"].as_array().unwrap().len(), &tagged["total"]), (1, &json!(1)));
        let found = ok(&client, "search_posts", json!({"query": "SECOND"})).await;
        assert_eq!(found["items"].as_array().unwrap().len(), 1);
        assert_eq!(found["items"][0]["id"], second["id"]);
        // The REST API sees the same post the tool returns.
        let rest = app.owner().await;
        let changed = ok(&client, "update_post", json!({"id": id, "title": "First, changed", "excerpt": "e"})).await;
        assert_eq!(app.get(&format!("/api/v2/posts/{id}"), &rest.access).await.expect(200)["data"], changed);
        let published = ok(&client, "publish_post", json!({"id": id})).await;
        assert_eq!(published["status"], "published");
        assert!(published["published_at"].is_string());
        let draft = ok(&client, "unpublish_post", json!({"id": id})).await;
        assert_eq!(draft["status"], "draft");

        // The post as a resource: Markdown with front matter.
        let templates = client.list_resource_templates(None).await.unwrap();
        assert_eq!(templates.resource_templates[0].uri_template, "jekcms://posts/{id}");
        let read = client.read_resource(ReadResourceRequestParams::new(format!("jekcms://posts/{id}"))).await.unwrap();
        let ResourceContents::TextResourceContents { text, mime_type, .. } = &read.contents[0] else { panic!("{read:?}") };
        assert_eq!(mime_type.as_deref(), Some("text/markdown"));
        assert!(text.starts_with(&format!("---\nid: {id}\ntitle: \"First, changed\"\nslug: \"first-post\"\nstatus: \"draft\"\ntags: [\"rust\"]\n")), "{text}");
        assert!(text.ends_with("---\n\nHello **world**\n"), "{text}");
        let missing = client.read_resource(ReadResourceRequestParams::new("jekcms://posts/999999")).await;
        assert!(missing.is_err(), "{missing:?}");

        // Media and the site.
        let medium = app.call(multipart(&rest.access, &[("file", Some("a.png"), PNG)])).await.expect(201)["data"].clone();
        let media = ok(&client, "list_media", json!({"mime_type": "image/"})).await;
        assert_eq!(media["items"][0]["id"], medium["id"]);
        assert_eq!(ok(&client, "get_media", json!({"id": medium["id"]})).await["sha256"], medium["sha256"]);
        assert!(fails(&client, "get_media", json!({"id": 999999})).await.starts_with("NOT_FOUND: "));
        assert_eq!(ok(&client, "get_site", json!({})).await["slug"], "default");

        // Bad arguments are the REST API's 422s, as tool errors naming the field.
        let e = fails(&client, "create_post", json!({"title": "x", "colour": "red"})).await;
        assert!(e.starts_with("VALIDATION_FAILED: ") && e.contains("(field colour)"), "{e}");
        let e = fails(&client, "list_posts", json!({"limit": 1000})).await;
        assert!(e.contains("(field limit)"), "{e}");
        let e = fails(&client, "list_posts", json!({"cursor": "forged"})).await;
        assert!(e.contains("(field cursor)"), "{e}");
        let e = fails(&client, "create_post", json!({"title": "Again", "slug": "first-post"})).await;
        assert!(e.starts_with("CONFLICT: "), "{e}");

        // Delete: gone for both APIs.
        assert_eq!(ok(&client, "delete_post", json!({"id": id})).await, json!({"id": id, "deleted": true}));
        assert!(fails(&client, "get_post", json!({"id": id})).await.starts_with("NOT_FOUND: "));
        app.get(&format!("/api/v2/posts/{id}"), &rest.access).await.expect_error(404, "NOT_FOUND");
        client.cancel().await.unwrap();
    }

    async fn each_tool_keeps_the_role_table(app) {
        let base = serve(&app).await;
        let (owner, _, _, _) = mcp_token(&app, "owner@example.com", Role::Owner).await;
        let owner = connect(&base, &owner).await;
        let theirs = ok(&owner, "create_post", json!({"title": "The owner's"})).await["id"].clone();
        for role in [Role::Viewer, Role::Author, Role::Editor, Role::Admin] {
            let (token, _, _, _) = mcp_token(&app, &format!("{}@example.com", role.as_str()), role).await;
            let c = connect(&base, &token).await;
            // Everyone reads.
            ok(&c, "list_posts", json!({})).await;
            ok(&c, "get_post", json!({"id": theirs})).await;
            ok(&c, "search_posts", json!({"query": "owner"})).await;
            ok(&c, "list_media", json!({})).await;
            ok(&c, "get_site", json!({})).await;
            if role == Role::Viewer {
                for (tool, args) in [
                    ("create_post", json!({"title": "no"})),
                    ("update_post", json!({"id": theirs, "title": "no"})),
                    ("publish_post", json!({"id": theirs})),
                    ("unpublish_post", json!({"id": theirs})),
                    ("delete_post", json!({"id": theirs})),
                ] {
                    let e = fails(&c, tool, args).await;
                    assert!(e.starts_with("FORBIDDEN: ") && e.contains("viewer"), "{tool}: {e}");
                }
                continue;
            }
            // Writers write their own posts.
            let mine = ok(&c, "create_post", json!({"title": format!("{} post", role.as_str())})).await["id"].clone();
            ok(&c, "update_post", json!({"id": mine, "body": "b"})).await;
            ok(&c, "publish_post", json!({"id": mine})).await;
            ok(&c, "unpublish_post", json!({"id": mine})).await;
            ok(&c, "delete_post", json!({"id": mine})).await;
            // Only editors and above change anyone's.
            let others = [
                ("update_post", json!({"id": theirs, "excerpt": "x"})),
                ("publish_post", json!({"id": theirs})),
                ("unpublish_post", json!({"id": theirs})),
            ];
            for (tool, args) in others {
                if role == Role::Author {
                    let e = fails(&c, tool, args).await;
                    assert!(e.starts_with("FORBIDDEN: "), "{tool}: {e}");
                } else {
                    ok(&c, tool, args).await;
                }
            }
            if role == Role::Author {
                assert!(fails(&c, "delete_post", json!({"id": theirs})).await.starts_with("FORBIDDEN: "));
            }
        }
        // Another site's posts do not exist for this site's token.
        let other = app.login("other", "other@example.com", Role::Owner).await;
        let foreign = app.create_post(&other.access, json!({"title": "Elsewhere"})).await["id"].clone();
        assert!(fails(&owner, "get_post", json!({"id": foreign})).await.starts_with("NOT_FOUND: "));
        assert!(fails(&owner, "delete_post", json!({"id": foreign})).await.starts_with("NOT_FOUND: "));
    }

    async fn only_mcp_tokens_open_mcp_and_they_open_nothing_else(app) {
        let (token, _, _, _) = mcp_token(&app, "owner@example.com", Role::Owner).await;
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
        let r = post_mcp(&app, Some(&token), init, &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["result"]["protocolVersion"], "2025-06-18");

        let (api_key, api_secret, _, _) = app.api_key("default", "owner@example.com", Role::Owner).await;
        let access = app.owner().await.access;
        for (what, bearer) in [("api_ key", api_key.as_str()), ("sk_ secret", api_secret.as_str()), ("access token", access.as_str()), ("unknown mcp_", &CredentialFamily::Mcp.generate())] {
            let r = post_mcp(&app, Some(bearer), init, &[]).await;
            let e = r.expect_error(401, "AUTH_INVALID");
            assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"), "{what}");
            let message = e["errors"][0]["message"].as_str().unwrap().to_owned();
            assert!(message.contains("mcp_"), "{what}: {message}");
        }
        let r = post_mcp(&app, None, init, &[]).await;
        let e = r.expect_error(401, "AUTH_INVALID");
        assert!(e["errors"][0]["message"].as_str().unwrap().contains("mcp_"), "{e}");
        assert!(r.header("www-authenticate").is_some());

        // And an mcp_ token is no bearer for the REST API.
        let e = app.get("/api/v2/me", &token).await.expect_error(401, "AUTH_INVALID");
        assert!(e["errors"][0]["message"].as_str().unwrap().contains("/mcp"), "{e}");
    }

    async fn revoking_the_token_refuses_the_next_call(app) {
        let base = serve(&app).await;
        let (token, key_id, _, _) = mcp_token(&app, "editor@example.com", Role::Editor).await;
        let client = connect(&base, &token).await;
        ok(&client, "list_posts", json!({})).await;
        let site = app.state.store.ensure_site("default", "default").await.unwrap();
        jekcms_accounts::AccountStore::revoke_key(&app.state.store, site.id, key_id, jekcms_auth::now()).await.unwrap();
        let refused = client
            .call_tool(CallToolRequestParams::new("list_posts"))
            .await;
        assert!(refused.is_err(), "{refused:?}");
        let r = post_mcp(&app, Some(&token), r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &[]).await;
        let e = r.expect_error(401, "AUTH_INVALID");
        assert!(e["errors"][0]["message"].as_str().unwrap().contains("revoked"), "{e}");
    }

    // On PostgreSQL a token this instance has accepted has its check sent with a reading
    // tool's first query (one round trip). Whatever carries the check, the role, the
    // license and revocation are read on every call, and a refused token is refused before
    // anything the read found, and before the transport's and the body's own errors.
    async fn a_known_tokens_reading_calls_are_checked_like_any_other(app) {
        let (token, key_id, user_id, _) = mcp_token(&app, "editor@example.com", Role::Editor).await;
        let t = Some(token.as_str());
        let call = |name: &str, args: Value| {
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": name, "arguments": args}}).to_string()
        };
        let result = |r: &crate::helpers::Resp| {
            assert_eq!(r.status, 200, "{:?}", r.body);
            r.json()["result"].clone()
        };
        let owner = app.owner().await;
        let id = app.create_post(&owner.access, json!({"title": "Known"})).await["id"].clone();
        let reads = [
            ("list_posts", json!({})),
            ("search_posts", json!({"query": "Known"})),
            ("get_post", json!({"id": id})),
            ("get_post", json!({"slug": "known"})),
        ];
        for round in ["first seen", "known"] {
            for (name, args) in &reads {
                let r = result(&post_mcp(&app, t, &call(name, args.clone()), &[]).await);
                assert_eq!(r["isError"], json!(false), "{round} {name}: {r}");
                let found = &r["structuredContent"];
                let title = found.get("title").unwrap_or(&found["items"][0]["title"]);
                assert_eq!(title, "Known", "{round} {name}: {r}");
            }
        }
        // A read's own failure is the tool's, after the check.
        let r = result(&post_mcp(&app, t, &call("list_posts", json!({"limit": 0})), &[]).await);
        assert_eq!(r["isError"], json!(true), "{r}");
        assert!(r["content"][0]["text"].as_str().unwrap().starts_with("VALIDATION_FAILED"), "{r}");
        let other = app.login("other", "other@example.com", Role::Owner).await;
        let foreign = app.create_post(&other.access, json!({"title": "Elsewhere"})).await["id"].clone();
        let r = result(&post_mcp(&app, t, &call("get_post", json!({"id": foreign})), &[]).await);
        assert!(r["content"][0]["text"].as_str().unwrap().starts_with("NOT_FOUND"), "{r}");

        // The role is the one of now: demoted to viewer, the token still reads and no
        // longer writes.
        app.patch(&format!("/api/v2/users/{user_id}"), &owner.access, json!({"role": "viewer"})).await.expect(200);
        let r = result(&post_mcp(&app, t, &call("list_posts", json!({})), &[]).await);
        assert_eq!(r["isError"], json!(false), "{r}");
        let r = result(&post_mcp(&app, t, &call("create_post", json!({"title": "no"})), &[]).await);
        assert!(r["content"][0]["text"].as_str().unwrap().starts_with("FORBIDDEN"), "{r}");

        // The license, switched off: 402 before the read's answer; back on: answered.
        let mut license = jekcms_server::sites_cli::SetSite {
            slug: "default".into(),
            plan: None,
            api_access: Some(jekcms_server::sites_cli::OnOff::Off),
            name: None,
            json: true,
        };
        jekcms_server::sites_cli::run(app.config(), &jekcms_server::sites_cli::SitesCommand::Set(license.clone())).await.unwrap();
        for (name, args) in &reads {
            post_mcp(&app, t, &call(name, args.clone()), &[]).await.expect_error(402, "LICENSE_REQUIRED");
        }
        license.api_access = Some(jekcms_server::sites_cli::OnOff::On);
        jekcms_server::sites_cli::run(app.config(), &jekcms_server::sites_cli::SitesCommand::Set(license)).await.unwrap();
        let r = result(&post_mcp(&app, t, &call("list_posts", json!({})), &[]).await);
        assert_eq!(r["isError"], json!(false), "{r}");

        // Revoked: every call is refused at once, and the refusal comes first.
        let site = app.state.store.ensure_site("default", "default").await.unwrap();
        jekcms_accounts::AccountStore::revoke_key(&app.state.store, site.id, key_id, jekcms_auth::now()).await.unwrap();
        let evil = [("origin", "http://evil.example"), ("host", "localhost:8080")];
        for (name, args) in &reads {
            let e = post_mcp(&app, t, &call(name, args.clone()), &[]).await.expect_error(401, "AUTH_INVALID");
            assert!(e["errors"][0]["message"].as_str().unwrap().contains("revoked"), "{name}: {e}");
            post_mcp(&app, t, &call(name, args.clone()), &evil).await.expect_error(401, "AUTH_INVALID");
        }
        post_mcp(&app, t, "{nope", &[]).await.expect_error(401, "AUTH_INVALID");
        post_mcp(&app, t, &call("list_posts", json!({"limit": 0})), &[]).await.expect_error(401, "AUTH_INVALID");
    }

    async fn the_transport_keeps_the_streamable_http_rules(app) {
        let (token, _, _, _) = mcp_token(&app, "owner@example.com", Role::Owner).await;
        let t = Some(token.as_str());
        // No SSE stream and no session: GET and DELETE are 405 naming POST.
        for method in [Method::GET, Method::DELETE] {
            let r = app.send(method.clone(), "/mcp", t, None).await;
            r.expect_error(405, "METHOD_NOT_ALLOWED");
            assert_eq!(r.header("allow"), Some("POST"), "{method}");
        }
        // A notification is accepted with no body.
        let r = post_mcp(&app, t, r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, &[]).await;
        assert_eq!((r.status.as_u16(), r.body.len()), (202, 0));
        // A request: a JSON answer with its id.
        let r = post_mcp(&app, t, r#"{"jsonrpc":"2.0","id":"a","method":"ping"}"#, &[("mcp-protocol-version", "2025-11-25")]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.json(), json!({"jsonrpc": "2.0", "id": "a", "result": {}}));
        // An unsupported protocol version header, a batch, a body that is not JSON.
        let r = post_mcp(&app, t, r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &[("mcp-protocol-version", "1999-01-01")]).await;
        assert_eq!((r.status.as_u16(), &r.json()["error"]["code"]), (400, &json!(-32600)));
        let r = post_mcp(&app, t, r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, &[]).await;
        assert_eq!((r.status.as_u16(), &r.json()["error"]["code"]), (400, &json!(-32600)));
        let r = post_mcp(&app, t, "{nope", &[]).await;
        assert_eq!((r.status.as_u16(), &r.json()["error"]["code"]), (400, &json!(-32700)));
        // A client that does not accept JSON.
        let req = TestRequest::default().method(Method::POST).uri("/mcp")
            .insert_header(("authorization", format!("Bearer {token}")))
            .insert_header(("content-type", "application/json"))
            .insert_header(("accept", "text/event-stream"))
            .set_payload(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#);
        assert_eq!(app.call(req).await.status, 406);
        // A browser page of another origin (DNS rebinding) is refused; the server's own passes.
        let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let r = post_mcp(&app, t, ping, &[("origin", "http://evil.example"), ("host", "localhost:8080")]).await;
        assert_eq!(r.status, 403);
        let r = post_mcp(&app, t, ping, &[("origin", "http://localhost:8080"), ("host", "localhost:8080")]).await;
        assert_eq!(r.status, 200);
        // Unknown methods and tools are protocol errors; the request's id is kept.
        let r = post_mcp(&app, t, r#"{"jsonrpc":"2.0","id":7,"method":"prompts/list"}"#, &[]).await;
        assert_eq!((&r.json()["id"], &r.json()["error"]["code"]), (&json!(7), &json!(-32601)));
        let r = post_mcp(&app, t, r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"drop_tables"}}"#, &[]).await;
        assert_eq!((&r.json()["id"], &r.json()["error"]["code"]), (&json!(8), &json!(-32602)));
        // A newer revision asked for in initialize gets the newest this server speaks.
        let r = post_mcp(&app, t, r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2099-01-01","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#, &[]).await;
        assert_eq!(r.json()["result"]["protocolVersion"], "2025-11-25");
    }

    // #18: a list call's result is written once; its structured content, the JSON of its
    // text block and the REST page's data are the same, for posts whose text needs
    // escaping, with either kind of request id.
    async fn a_list_result_is_the_text_block_and_the_rest_page(app) {
        let (token, _, _, _) = mcp_token(&app, "owner@example.com", Role::Owner).await;
        let rest = app.owner().await;
        for i in 0..25 {
            app.post("/api/v2/posts", &rest.access, json!({
                "title": format!("Post {i}: \"quoted\" \\ back </script> é 🎉"),
                "body": format!("line one\nline\ttwo\u{1}\u{2028} {i}"),
                "tags": ["a", "b"],
                "status": if i % 2 == 0 { "published" } else { "draft" },
            })).await.expect(201);
        }
        let page = app.get("/api/v2/posts?limit=20&include=total", &rest.access).await.expect(200);
        for id in [json!(41), json!("req-\"41\"")] {
            let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "list_posts", "arguments": {"limit": 20, "include": "total"}}});
            let r = post_mcp(&app, Some(&token), &body.to_string(), &[("mcp-protocol-version", "2025-11-25")]).await;
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type"), Some("application/json"));
            let answer = r.json();
            assert_eq!((&answer["jsonrpc"], &answer["id"]), (&json!("2.0"), &id));
            let result = &answer["result"];
            assert_eq!(result["isError"], json!(false));
            let blocks = result["content"].as_array().unwrap();
            assert_eq!((blocks.len(), &blocks[0]["type"]), (1, &json!("text")));
            let structured = &result["structuredContent"];
            let text: Value = serde_json::from_str(blocks[0]["text"].as_str().unwrap()).unwrap();
            assert_eq!(&text, structured);
            assert_eq!(structured["items"], page["data"]);
            assert_eq!(structured["items"].as_array().unwrap().len(), 20);
            assert_eq!(structured["has_more"], page["meta"]["has_more"]);
            assert_eq!(structured["limit"], page["meta"]["limit"]);
            assert_eq!((&structured["total"], &page["meta"]["total"]), (&json!(25), &json!(25)));
            // The cursor is sealed afresh each time: the same position, not the same bytes.
            assert!(structured["next_cursor"].is_string() && page["meta"]["next_cursor"].is_string());
            // Exactly the result rmcp's model reads (what every SDK client parses).
            let typed: CallToolResult = serde_json::from_value(result.clone()).unwrap();
            assert_eq!(typed.structured_content.as_ref(), Some(structured));
        }
    }

    async fn every_tool_write_is_in_the_activity_log_as_mcp(app) {
        let base = serve(&app).await;
        let (token, _, user_id, public_id) = mcp_token(&app, "editor@example.com", Role::Editor).await;
        let client = connect(&base, &token).await;
        let id = ok(&client, "create_post", json!({"title": "Agent's"})).await["id"].as_i64().unwrap();
        ok(&client, "update_post", json!({"id": id, "title": "Agent's, changed"})).await;
        ok(&client, "publish_post", json!({"id": id})).await;
        ok(&client, "unpublish_post", json!({"id": id})).await;
        ok(&client, "delete_post", json!({"id": id})).await;
        // Reads are not logged.
        ok(&client, "list_posts", json!({})).await;
        let owner = app.owner().await;
        let events = app.get("/api/v2/activity?limit=100", &owner.access).await.expect(200)["data"].as_array().unwrap().clone();
        // As for REST writes: a status change is an update too.
        let kinds: Vec<&str> = events.iter().rev().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["post.created",
                "post.updated",
                "post.updated",
                "post.published",
                "post.updated",
                "post.unpublished",
                "post.deleted"], "{events:?}");
        for e in &events {
            assert_eq!(e["actor"]["family"], "mcp", "{e}");
            assert_eq!(e["actor"]["user_id"], user_id, "{e}");
            assert_eq!(e["actor"]["key_id"], json!(public_id), "{e}");
            assert!(e["request_id"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
        }
    }

    async fn quota_and_license_apply_before_json_rpc(app) {
        let (token, _, _, _) = mcp_token(&app, "owner@example.com", Role::Owner).await;
        let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        let r = post_mcp(&app, Some(&token), ping, &[]).await;
        assert_eq!(r.status, 200);
        assert!(r.header("x-ratelimit-limit").is_some(), "{:?}", r.headers);
        let mut off = jekcms_server::sites_cli::SetSite {
            slug: "default".into(),
            plan: None,
            api_access: Some(jekcms_server::sites_cli::OnOff::Off),
            name: None,
            json: true,
        };
        jekcms_server::sites_cli::run(app.config(), &jekcms_server::sites_cli::SitesCommand::Set(off.clone())).await.unwrap();
        post_mcp(&app, Some(&token), ping, &[]).await.expect_error(402, "LICENSE_REQUIRED");
        off.api_access = Some(jekcms_server::sites_cli::OnOff::On);
        jekcms_server::sites_cli::run(app.config(), &jekcms_server::sites_cli::SitesCommand::Set(off)).await.unwrap();
        assert_eq!(post_mcp(&app, Some(&token), ping, &[]).await.status, 200);
    }
}

/// Under a pull lease (`JEKCMS_PULL_LEASE_MS`) a tool that writes is answered once the lease
/// has run out, as a REST write is; a tool that reads is not held.
#[actix_web::test]
async fn under_a_pull_lease_tool_writes_wait_and_reads_do_not() {
    use std::time::{Duration, Instant};
    const LEASE: Duration = Duration::from_millis(1000);
    let app = TestApp::new(jekcms_store::Backend::Sqlite, |c| c.pull_lease = LEASE)
        .await
        .unwrap();
    let (token, _, _, _) = mcp_token(&app, "owner@example.com", Role::Owner).await;
    let call = |tool: &str, args: Value| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}})
            .to_string()
    };
    let at = Instant::now();
    let r = post_mcp(
        &app,
        Some(&token),
        &call("create_post", json!({"title": "By an agent"})),
        &[],
    )
    .await;
    let took = at.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["result"]["isError"], json!(false), "{}", r.json());
    assert!(took >= LEASE, "{took:?}");
    let mut fastest = Duration::MAX;
    for _ in 0..3 {
        let at = Instant::now();
        let r = post_mcp(&app, Some(&token), &call("list_posts", json!({})), &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.json()["result"]["structuredContent"]["items"][0]["title"],
            "By an agent"
        );
        fastest = fastest.min(at.elapsed());
    }
    assert!(fastest < LEASE, "{fastest:?}");
}

/// The key's quota counts `/mcp` calls like REST requests: over it, 429 with `Retry-After`.
#[actix_web::test]
async fn the_key_quota_counts_mcp_calls() {
    let app = TestApp::new(jekcms_store::Backend::Sqlite, |c| {
        c.rate_limit_admin = jekcms_ratelimit::Quota::parse("2/min").ok();
    })
    .await
    .unwrap();
    let (token, _, _, _) = mcp_token(&app, "owner@example.com", Role::Owner).await;
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    for _ in 0..2 {
        assert_eq!(post_mcp(&app, Some(&token), ping, &[]).await.status, 200);
    }
    let r = post_mcp(&app, Some(&token), ping, &[]).await;
    r.expect_error(429, "RATE_LIMITED");
    assert!(r.header("retry-after").is_some());
}
