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
