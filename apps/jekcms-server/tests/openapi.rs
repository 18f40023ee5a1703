//! The committed spec (`openapi/openapi.json`) must equal what `jekcms openapi` prints.
//! Regenerate with `just openapi` (or `cargo run -p jekcms-server -- openapi > openapi/openapi.json`).

#[test]
fn committed_openapi_document_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/openapi.json");
    let committed = std::fs::read_to_string(path).expect("openapi/openapi.json exists");
    let generated = jekcms_server::openapi::document_json();
    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `just openapi` and commit the result"
    );
}

#[test]
fn every_operation_documents_its_errors_and_ids() {
    let doc: serde_json::Value =
        serde_json::from_str(&jekcms_server::openapi::document_json()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has an operationId");
            if path.starts_with("/api/v2/") && path != "/api/v2/auth/revoke" {
                let codes: Vec<&String> = op["responses"].as_object().unwrap().keys().collect();
                assert!(
                    codes.iter().any(|c| c.starts_with('4')),
                    "{method} {path} documents a 4xx: {codes:?}"
                );
            }
        }
    }
}

#[test]
fn operation_ids_are_unique_and_v1_is_deprecated() {
    let doc: serde_json::Value =
        serde_json::from_str(&jekcms_server::openapi::document_json()).unwrap();
    let mut ids = Vec::new();
    let mut v1 = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for op in item.as_object().unwrap().values() {
            ids.push(op["operationId"].as_str().unwrap().to_owned());
            let deprecated = op["deprecated"].as_bool().unwrap_or(false);
            assert_eq!(deprecated, path.starts_with("/api/v1/"), "{path}");
            v1 += usize::from(deprecated);
        }
    }
    assert_eq!(v1, 5, "the five v1 endpoints are documented");
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "operationIds are unique");
}

/// Every `meta` the server sends validates against the `Meta` schema: the request id alone
/// (single resources, failures) and with pagination (lists). The derived schema was
/// `allOf[oneOf[PageMeta, null], …]`, which a `meta` without pagination cannot satisfy.
#[test]
fn meta_schema_accepts_every_meta_the_server_sends() {
    use jekcms_envelope::{Meta, PageMeta};
    let doc: serde_json::Value =
        serde_json::from_str(&jekcms_server::openapi::document_json()).unwrap();
    let schema = &doc["components"]["schemas"]["Meta"];
    assert_eq!(schema["type"], "object", "{schema}");
    assert!(
        schema.get("allOf").is_none() && schema.get("oneOf").is_none(),
        "{schema}"
    );
    let properties = schema["properties"].as_object().unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let page = PageMeta {
        next_cursor: Some("c".into()),
        has_more: true,
        limit: 20,
        total: Some(3),
    };
    for meta in [Meta::new("r"), Meta::new("r").with_page(page)] {
        let value = serde_json::to_value(&meta).unwrap();
        let object = value.as_object().unwrap();
        for name in &required {
            assert!(object.contains_key(*name), "{value} lacks required {name}");
        }
        for (name, v) in object {
            let declared = properties
                .get(name)
                .unwrap_or_else(|| panic!("{name} is not declared"));
            let types: Vec<&str> = match &declared["type"] {
                serde_json::Value::String(t) => vec![t.as_str()],
                serde_json::Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).collect(),
                other => panic!("{name}: {other}"),
            };
            let actual = match v {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "boolean",
                serde_json::Value::Number(_) => "integer",
                serde_json::Value::String(_) => "string",
                _ => "object",
            };
            assert!(types.contains(&actual), "{name}: {actual} not in {types:?}");
        }
    }
}

/// The failures every operation can answer from how it is reached are declared, as
/// references to the shared responses: 500 everywhere, 401/402/429 behind a credential,
/// 400/413/415/422 with a body, 429 on the throttled auth endpoints.
#[test]
fn every_operation_declares_the_failures_it_can_answer() {
    let doc: serde_json::Value =
        serde_json::from_str(&jekcms_server::openapi::document_json()).unwrap();
    let shared = doc["components"]["responses"].as_object().unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let mut expected = vec!["500"];
            if op
                .get("security")
                .and_then(|s| s.as_array())
                .is_some_and(|s| !s.is_empty())
            {
                expected.extend(["401", "402", "429", "503"]);
            }
            if path.starts_with("/api/v2/auth/") {
                expected.extend(["429", "503"]);
            }
            if op.get("requestBody").is_some() {
                expected.extend(["400", "413", "415", "422"]);
            }
            for status in expected {
                let response = responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{method} {path} does not declare {status}"));
                if let Some(r) = response.get("$ref").and_then(|r| r.as_str()) {
                    let name = r.strip_prefix("#/components/responses/").unwrap();
                    assert!(shared.contains_key(name), "{method} {path}: {r}");
                    assert_eq!(
                        name.starts_with("V1"),
                        path.starts_with("/api/v1/"),
                        "{method} {path}: v1 failures have v1's shape"
                    );
                }
            }
        }
    }
}

fn document() -> serde_json::Value {
    serde_json::from_str(&jekcms_server::openapi::document_json()).unwrap()
}

/// Every operation of the document, with its path and method.
fn operations(doc: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((path.clone(), method.clone(), op.clone()));
        }
    }
    ops
}

/// What generated clients and documentation UIs show as the operation's name is one short
/// line; the rest goes to `description` (utoipa: the doc comment's first paragraph is the
/// summary). Every operation says whether it takes a credential (`security: []` when not).
#[test]
fn operations_have_short_summaries_and_declared_security() {
    let doc = document();
    for (path, method, op) in operations(&doc) {
        let summary = op["summary"].as_str().unwrap_or_default();
        assert!(
            !summary.is_empty() && summary.len() <= 80 && !summary.contains('\n'),
            "{method} {path}: summary {summary:?}"
        );
        assert!(
            op["security"].is_array(),
            "{method} {path} declares security"
        );
    }
}

/// Success bodies are named component schemas (`PostEnvelope`, `PostList`, …), so that a
/// generated client has one type per resource rather than one per operation.
#[test]
fn json_success_bodies_are_named_schemas() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for (path, method, op) in operations(&doc) {
        for (status, response) in op["responses"].as_object().unwrap() {
            let Some(schema) = response["content"]["application/json"].get("schema") else {
                continue;
            };
            let schema = if schema["type"] == "array" {
                &schema["items"]
            } else {
                schema
            };
            let name = schema["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .unwrap_or_else(|| panic!("{method} {path} {status}: inline {schema}"));
            assert!(
                schemas.contains_key(name),
                "{method} {path} {status}: {name}"
            );
        }
    }
}

/// The headers the request context writes are declared where they are sent: `X-Request-Id`
/// on every response, the quota headers on every response of an operation counted against a
/// quota, `WWW-Authenticate` on v2's `401`s and `Retry-After` on every `429`; shared
/// responses carry the first two, and each header referenced is declared.
#[test]
fn responses_declare_the_headers_the_server_writes() {
    let doc = document();
    let headers = doc["components"]["headers"].as_object().unwrap();
    let quota = [
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "RateLimit-Policy",
        "RateLimit",
    ];
    let check = |what: &str, response: &serde_json::Value, counted: bool| {
        let declared = response["headers"].as_object().unwrap();
        assert!(declared.contains_key("X-Request-Id"), "{what}");
        if counted {
            for name in quota {
                assert!(declared.contains_key(name), "{what}: {name}");
            }
        }
        for (name, header) in declared {
            if let Some(r) = header["$ref"].as_str() {
                let target = r.strip_prefix("#/components/headers/").unwrap();
                assert!(headers.contains_key(target), "{what}: {name} → {r}");
            }
        }
    };
    for (path, method, op) in operations(&doc) {
        let counted = op["security"].as_array().is_some_and(|s| !s.is_empty())
            || path.starts_with("/api/v2/auth/");
        for (status, response) in op["responses"].as_object().unwrap() {
            let response = match response["$ref"].as_str() {
                Some(r) => {
                    &doc["components"]["responses"]
                        [r.strip_prefix("#/components/responses/").unwrap()]
                }
                None => response,
            };
            check(&format!("{method} {path} {status}"), response, counted);
            let must = match status.as_str() {
                "401" if !path.starts_with("/api/v1/") => Some("WWW-Authenticate"),
                "429" => Some("Retry-After"),
                _ => None,
            };
            if let Some(name) = must {
                assert!(
                    response["headers"][name].is_object(),
                    "{method} {path} {status}: {name}"
                );
            }
        }
    }
    let shared = doc["components"]["responses"].as_object().unwrap();
    for (name, response) in shared {
        check(name, response, true);
    }
}

/// Every shared response is referenced by some operation (the linter reports unused
/// components), and the conditional and idempotency headers the handlers read are declared
/// as parameters where they are read.
#[test]
fn shared_responses_are_used_and_request_headers_declared() {
    let doc = document();
    let text = serde_json::to_string(&doc["paths"]).unwrap();
    for name in doc["components"]["responses"].as_object().unwrap().keys() {
        assert!(
            text.contains(&format!("\"#/components/responses/{name}\"")),
            "{name} is unused"
        );
    }
    let header_params = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "header")
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (path, method, name) in [
        ("/api/v2/posts", "post", "Idempotency-Key"),
        ("/api/v2/bulk/posts", "post", "Idempotency-Key"),
        ("/api/v2/posts/{id}", "get", "If-None-Match"),
        ("/api/v2/posts/{id}", "patch", "If-Match"),
        ("/api/v2/media/{id}/content", "get", "Range"),
        ("/api/v2/media/{id}/content", "get", "If-None-Match"),
    ] {
        assert!(
            header_params(path, method).iter().any(|n| n == name),
            "{method} {path} declares {name}"
        );
    }
    // The key's schema is the server's rule: 1 to MAX_KEY_CHARS printable ASCII characters.
    let key = doc["paths"]["/api/v2/posts"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .unwrap();
    assert_eq!(key["required"], false);
    assert_eq!(key["schema"]["minLength"], 1);
    assert_eq!(
        key["schema"]["maxLength"],
        jekcms_content::idempotency::MAX_KEY_CHARS
    );
    assert_eq!(key["schema"]["pattern"], "^[ -~]+$");
}

/// The first example of component schema `name`.
fn example(doc: &serde_json::Value, name: &str) -> serde_json::Value {
    doc["components"]["schemas"][name]["examples"][0].clone()
}

/// Every request body has an example, and the server's own parser accepts it.
#[test]
fn request_body_examples_pass_the_servers_parsers() {
    use jekcms_accounts::model::{KeyRequest, Login, Registration, UserPatch, UserRequest};
    use jekcms_content::{media, post};
    let doc = document();
    for (path, method, op) in operations(&doc) {
        let Some(body) = op.get("requestBody") else {
            continue;
        };
        if body["content"].get("multipart/form-data").is_some() {
            continue;
        }
        let schema = body["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: a named request schema"));
        let name = schema.trim_start_matches("#/components/schemas/");
        assert!(
            example(&doc, name).is_object(),
            "{method} {path}: {name} has an example"
        );
        // Every parser refuses unknown fields.
        assert_eq!(
            doc["components"]["schemas"][name]["additionalProperties"], false,
            "{method} {path}: {name} allows no other field"
        );
    }
    let ok = |name: &str, result: Result<(), String>| {
        if let Err(e) = result {
            panic!("the example of {name} is refused: {e}");
        }
    };
    let dbg = |e: &dyn std::fmt::Debug| format!("{e:?}");
    ok(
        "NewPost",
        post::parse_new(example(&doc, "NewPost"), "")
            .map(drop)
            .map_err(|e| dbg(&e)),
    );
    ok(
        "PostPatch",
        post::parse_patch(example(&doc, "PostPatch"))
            .map(drop)
            .map_err(|e| dbg(&e)),
    );
    let bulk = example(&doc, "BulkPosts");
    let items = bulk["posts"].as_array().unwrap();
    assert!((1..=jekcms_content::bulk::MAX_BULK_POSTS).contains(&items.len()));
    for item in items {
        ok(
            "BulkPosts",
            post::parse_new(item.clone(), "")
                .map(drop)
                .map_err(|e| dbg(&e)),
        );
    }
    let alt = example(&doc, "MediaPatch");
    ok(
        "MediaPatch",
        media::check_alt_text(alt["alt_text"].as_str().unwrap()).map_err(|e| dbg(&e)),
    );
    ok(
        "CreateUserBody",
        UserRequest::parse(&example(&doc, "CreateUserBody"))
            .map(drop)
            .map_err(|e| dbg(&e)),
    );
    ok(
        "UpdateSiteBody",
        jekcms_accounts::site::SitePatch::parse(&example(&doc, "UpdateSiteBody"))
            .map(drop)
            .map_err(|e| dbg(&e)),
    );
    ok(
        "UpdateUserBody",
        UserPatch::parse(&example(&doc, "UpdateUserBody"))
            .map(drop)
            .map_err(|e| dbg(&e)),
    );
    // The day the examples were written: the key example's expiry is after it.
    let written = chrono::DateTime::parse_from_rfc3339("2026-12-04T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    ok(
        "CreateKeyBody",
        KeyRequest::parse(&example(&doc, "CreateKeyBody"), written)
            .map(drop)
            .map_err(|e| dbg(&e)),
    );
    ok(
        "RotateKeysBody",
        jekcms_content::pull::parse_rotation(Some(example(&doc, "RotateKeysBody")))
            .map(drop)
            .map_err(|e| dbg(&e)),
    );
    ok(
        "RegisterRequest",
        Registration::parse(&example(&doc, "RegisterRequest"))
            .map(drop)
            .map_err(|e| dbg(&e)),
    );
    ok(
        "LoginRequest",
        Login::parse(&example(&doc, "LoginRequest"))
            .map(drop)
            .map_err(|e| dbg(&e)),
    );
    for (name, fields) in [
        ("TokenRequest", &["api_key", "api_secret"][..]),
        ("RefreshRequest", &["refresh_token"][..]),
    ] {
        let e = example(&doc, name);
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, fields, "{name}");
    }
    // The main responses have examples too.
    for name in ["Post", "PostEnvelope", "PostList", "ErrorBody"] {
        assert!(example(&doc, name).is_object(), "{name} has an example");
    }
}

/// A string constraint of the document: `minLength`, `maxLength` and `pattern` of the property
/// `field` of component schema `schema` (of its items with `items`).
struct StringRule {
    min: usize,
    max: usize,
    pattern: regex::Regex,
}

impl StringRule {
    fn of(doc: &serde_json::Value, schema: &str, field: &str, items: bool) -> Self {
        let mut p = &doc["components"]["schemas"][schema]["properties"][field];
        if items {
            p = &p["items"];
        }
        let n = |k: &str| p.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
        Self {
            min: n("minLength").unwrap_or(0),
            max: n("maxLength").unwrap_or(usize::MAX),
            pattern: regex::Regex::new(p["pattern"].as_str().unwrap_or(".*")).unwrap(),
        }
    }

    fn allows(&self, s: &str) -> bool {
        (self.min..=self.max).contains(&s.chars().count()) && self.pattern.is_match(s)
    }
}

/// The string constraints of the request schemas accept exactly what the server's parsers
/// accept, over samples at and around each rule's edges.
#[test]
fn request_constraints_equal_the_servers_rules() {
    use jekcms_accounts::model::{check_name, normalise_email};
    let doc = document();
    let check =
        |what: &str, rule: &StringRule, server: &dyn Fn(&str) -> bool, samples: &[String]| {
            for s in samples {
                assert_eq!(
                    rule.allows(s),
                    server(s),
                    "{what}: the document and the server disagree on {s:?}"
                );
            }
        };
    let strs = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();

    let mut slugs = strs(&[
        "hello",
        "hello-world",
        "a",
        "1-2-3",
        "",
        "-a",
        "a-",
        "a--b",
        "Hello",
        "héllo",
        "a_b",
        "a b",
    ]);
    slugs.extend(["x".repeat(200), "x".repeat(201)]);
    for schema in ["NewPost", "PostPatch"] {
        let rule = StringRule::of(&doc, schema, "slug", false);
        check(
            schema,
            &rule,
            &|s: &str| jekcms_content::slug::is_valid(s),
            &slugs,
        );
    }

    let mut names = strs(&[
        "Ada",
        "  Ada  ",
        "\tAda\n",
        "",
        "   ",
        "a b",
        "a\u{7}b",
        "a\nb",
        "\u{80}a",
        "Café",
        // Whitespace as Rust's `trim` sees it, which differs from `\s` in ECMA and Python:
        "\u{85}Ada\u{3000}",
        "\u{a0}Ada",
        "\u{1c}Ada",
        "\u{feff}Ada",
        "\u{2028}",
    ]);
    names.extend([
        "a".repeat(100),
        "a".repeat(101),
        "é".repeat(100),
        "é".repeat(101),
    ]);
    for (schema, field) in [
        ("CreateUserBody", "name"),
        ("UpdateUserBody", "name"),
        ("RegisterRequest", "name"),
        ("RegisterRequest", "site_name"),
        ("CreateKeyBody", "name"),
    ] {
        let rule = StringRule::of(&doc, schema, field, false);
        check(
            field,
            &rule,
            &|s: &str| check_name(field, s).is_ok(),
            &names,
        );
    }

    let mut titles = names.clone();
    titles.extend(["t".repeat(300), "t".repeat(301)]);
    for schema in ["NewPost", "PostPatch"] {
        let rule = StringRule::of(&doc, schema, "title", false);
        let server = |s: &str| {
            jekcms_content::post::parse_new(serde_json::json!({ "title": s }), "").is_ok()
        };
        check(schema, &rule, &server, &titles);
    }

    let mut tags = strs(&[
        "news",
        "two words",
        "",
        " lead",
        "trail ",
        "a\u{1}b",
        "é",
        "\u{a0}x",
        "\u{feff}x",
        "x\u{1c}",
    ]);
    tags.extend(["t".repeat(50), "t".repeat(51)]);
    for schema in ["NewPost", "PostPatch"] {
        let rule = StringRule::of(&doc, schema, "tags", true);
        let server = |s: &str| {
            jekcms_content::post::parse_new(serde_json::json!({"title": "t", "tags": [s]}), "")
                .is_ok()
        };
        check(schema, &rule, &server, &tags);
    }

    let mut emails = strs(&[
        "\u{a0}a@b.c\u{85}",
        "a\u{feff}@b.c",
        "\u{1c}a@b.c",
        "a\u{2000}b@c.d",
        "a@b.c",
        " A@Example.COM ",
        "a@b",
        "@b.c",
        "a@.b",
        "a@b.",
        "a b@c.d",
        "a@b@c.d",
        "a@b..c",
        "a.b@c.d",
        "a@b.c\u{1}",
        "",
    ]);
    emails.extend([
        format!("{}@b.c", "x".repeat(64)),
        format!("{}@b.c", "x".repeat(65)),
    ]);
    for schema in ["CreateUserBody", "UpdateUserBody", "RegisterRequest"] {
        let rule = StringRule::of(&doc, schema, "email", false);
        check(
            schema,
            &rule,
            &|s: &str| normalise_email(s).is_ok(),
            &emails,
        );
    }

    let mut passwords = strs(&["short", "exactly12chr", "twelve\u{0}chars", "twelve chars"]);
    passwords.extend(["p".repeat(256), "p".repeat(257), "é".repeat(12)]);
    for schema in ["CreateUserBody", "UpdateUserBody", "RegisterRequest"] {
        let rule = StringRule::of(&doc, schema, "password", false);
        let server = |s: &str| jekcms_auth::password::check_rules(s).is_ok() && !s.contains('\0');
        check(schema, &rule, &server, &passwords);
    }

    let mut alts = strs(&["", "a lighthouse", "nul\u{0}"]);
    alts.extend(["a".repeat(1000), "a".repeat(1001)]);
    for schema in ["MediaPatch", "UploadForm"] {
        let rule = StringRule::of(&doc, schema, "alt_text", false);
        let server = |s: &str| jekcms_content::media::check_alt_text(s).is_ok();
        check(schema, &rule, &server, &alts);
    }

    // The enums are the server's names.
    let names_of = |schema: &str| -> Vec<String> {
        doc["components"]["schemas"][schema]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let roles: Vec<String> = jekcms_auth::Role::ALL
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    assert_eq!(names_of("Role"), roles);
    assert_eq!(names_of("KeyFamily"), ["api", "mcp"]);
    assert_eq!(
        doc["components"]["schemas"]["BulkPosts"]["properties"]["posts"]["maxItems"],
        jekcms_content::bulk::MAX_BULK_POSTS
    );
}
