//! The tools' JSON Schemas, taken from the OpenAPI document the REST API publishes: utoipa
//! derives it from the same Rust types the handlers read and write, and OpenAPI 3.1 schemas
//! are JSON Schema. A tool's schema is one of its components (`NewPost`, `Post`, …) or the
//! query parameters of a REST list, with every `$ref` inlined so that it stands alone.

use serde_json::{Map, Value, json};
use std::sync::LazyLock;

/// The published OpenAPI document, as JSON.
static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    use utoipa::OpenApi;
    serde_json::to_value(crate::openapi::ApiDoc::openapi()).unwrap_or_default()
});

/// Deepest `$ref` chain inlined; the document's schemas nest far less, and a cycle stops here.
const MAX_DEPTH: usize = 16;

/// The component schema `name` (`#/components/schemas/{name}`), inlined.
pub(crate) fn component(name: &str) -> Value {
    inline(&DOCUMENT["components"]["schemas"][name], 0)
}

/// `value` with every `#/components/schemas/…` reference replaced by its schema; members
/// beside a `$ref` (a field's own `description`) are kept over the referenced schema's.
fn inline(value: &Value, depth: usize) -> Value {
    match value {
        Value::Object(map) => {
            let target = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"));
            match target {
                Some(name) if depth < MAX_DEPTH => {
                    let mut resolved =
                        match inline(&DOCUMENT["components"]["schemas"][name], depth + 1) {
                            Value::Object(m) => m,
                            _ => Map::new(),
                        };
                    for (k, v) in map.iter().filter(|(k, _)| *k != "$ref") {
                        resolved.insert(k.clone(), inline(v, depth));
                    }
                    Value::Object(resolved)
                }
                _ => Value::Object(
                    map.iter()
                        .map(|(k, v)| (k.clone(), inline(v, depth)))
                        .collect(),
                ),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| inline(v, depth)).collect()),
        other => other.clone(),
    }
}

/// The parameters `names` of the operation `method path`, each as a property schema with
/// its description (a path parameter's too: `id`).
pub(crate) fn parameters(path: &str, method: &str, names: &[&str]) -> Map<String, Value> {
    let params = DOCUMENT["paths"][path][method]["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut out = Map::new();
    for name in names {
        let Some(param) = params.iter().find(|p| p["name"] == *name) else {
            continue;
        };
        let mut schema = match inline(&param["schema"], 0) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        if let Some(description) = param.get("description") {
            schema.insert("description".into(), description.clone());
        }
        out.insert((*name).to_owned(), Value::Object(schema));
    }
    out
}

/// An object schema with these properties, `required` ones, and no others.
pub(crate) fn object(properties: Map<String, Value>, required: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The object schema `schema` with `extra` properties added (required when listed), and
/// no others allowed.
pub(crate) fn extend(schema: Value, extra: Map<String, Value>, required: &[&str]) -> Value {
    let Value::Object(mut schema) = schema else {
        return object(extra, required);
    };
    let properties = schema.entry("properties").or_insert_with(|| json!({}));
    if let Value::Object(properties) = properties {
        properties.extend(extra);
    }
    let list = schema.entry("required").or_insert_with(|| json!([]));
    if let Value::Array(list) = list {
        list.extend(required.iter().map(|r| json!(r)));
    }
    schema.insert("additionalProperties".into(), Value::Bool(false));
    Value::Object(schema)
}

/// The result of a list tool: its `items` (each a component `item`) and the page's
/// pagination (`PageMeta`: `next_cursor`, `has_more`, `limit`, `total`).
pub(crate) fn page_of(item: &str, what: &str) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "items".into(),
        json!({"type": "array", "items": component(item), "description": what}),
    );
    let meta = component("PageMeta");
    if let Some(Value::Object(fields)) = meta.get("properties") {
        properties.extend(fields.clone());
    }
    let mut required = vec!["items"];
    if let Some(Value::Array(list)) = meta.get("required") {
        required.extend(list.iter().filter_map(Value::as_str));
    }
    json!({"type": "object", "properties": properties, "required": required})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_ref(v: &Value) -> bool {
        match v {
            Value::Object(m) => m.contains_key("$ref") || m.values().any(has_ref),
            Value::Array(a) => a.iter().any(has_ref),
            _ => false,
        }
    }

    #[test]
    fn components_are_inlined_and_keep_their_own_descriptions() {
        let new_post = component("NewPost");
        assert!(!has_ref(&new_post), "{new_post}");
        assert_eq!(new_post["required"], json!(["title"]));
        // `status` referred to PostStatus: its enum is in place, its description the field's.
        assert_eq!(
            new_post["properties"]["status"]["enum"],
            json!(["draft", "published", "archived"])
        );
        assert_eq!(
            new_post["properties"]["status"]["description"],
            "Defaults to `draft`."
        );
    }

    #[test]
    fn list_parameters_become_properties() {
        let p = parameters("/api/v2/posts", "get", &["limit", "tag", "nonexistent"]);
        assert_eq!(p["limit"]["maximum"], 100);
        assert_eq!(p["tag"]["type"], "array");
        assert!(!p.contains_key("nonexistent"));
        let page = page_of("Post", "posts");
        assert_eq!(page["required"], json!(["items", "has_more", "limit"]));
        assert!(!has_ref(&page));
    }
}
