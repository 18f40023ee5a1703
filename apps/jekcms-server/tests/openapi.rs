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
