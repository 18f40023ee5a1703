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
