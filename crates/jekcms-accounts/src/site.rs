//! A site's settings as its users and the operator see them (API.md §8), and the change an
//! owner may make to them: its name and the origins its front ends are served from.

use crate::AccountError;
use crate::model::check_name;
use chrono::{DateTime, Utc};
use jekcms_auth::Plan;
use jekcms_envelope::fields::Fields;
use serde::Serialize;
use serde_json::Value;

/// Most origins a site lists in `cors_origins`.
pub const MAX_CORS_ORIGINS: usize = 50;

/// A site with its license, plan, origins and pull key (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteDetails {
    /// Id.
    pub id: i64,
    /// Unique slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The plan, which sets the per-site quotas.
    pub plan: Plan,
    /// The license: without it every authenticated request is `402`.
    pub api_access: bool,
    /// Origins allowed to call the API from a browser, sorted.
    pub cors_origins: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The active pull key, if one was ever made.
    pub pull_key: Option<PullKeySummary>,
}

/// What is shown of a site's active pull key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PullKeySummary {
    /// The key's id (a number; the key itself is never shown again).
    #[cfg_attr(feature = "openapi", schema(example = 3))]
    pub key_id: i64,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// What a `PATCH /api/v2/site` changes; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SitePatch {
    /// New display name.
    pub name: Option<String>,
    /// The new set of origins (replacing the old one), normalised and without duplicates.
    pub cors_origins: Option<Vec<String>>,
}

impl SitePatch {
    /// Parses `{"name"?, "cors_origins"?}`: any other field, a bad name, an origin that is
    /// not one (`cors_origins[i]`), `*`, or more than [`MAX_CORS_ORIGINS`] distinct origins
    /// is a validation error naming the field.
    pub fn parse(body: &Value) -> Result<Self, AccountError> {
        let mut f = Fields::new(body.clone(), &["name", "cors_origins"])
            .map_err(AccountError::Validation)?;
        let name = f.checked("name", false, |s| check_name("name", s));
        let cors_origins = match f.take("cors_origins") {
            None => None,
            Some(Value::Array(items)) => {
                let mut origins = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let field = format!("cors_origins[{i}]");
                    if let Some(raw) = f.as_string(&field, item)
                        && let Some(origin) = f.check(&field, &raw, check_origin)
                    {
                        origins.push(origin);
                    }
                }
                origins.sort_unstable();
                origins.dedup();
                if origins.len() > MAX_CORS_ORIGINS {
                    f.fail(
                        "cors_origins",
                        format!("cors_origins may list at most {MAX_CORS_ORIGINS} origins"),
                    );
                }
                Some(origins)
            }
            Some(_) => {
                f.fail("cors_origins", "cors_origins must be an array of origins");
                None
            }
        };
        f.finish(Self { name, cors_origins })
            .map_err(AccountError::Validation)
    }
}

/// Reads one origin as browsers send it in `Origin`: `scheme://host[:port]`, scheme `http`
/// or `https`, no user, path (not even `/`), query or fragment. Returned serialised as a
/// browser does: scheme and host in lower case (an international name in its ASCII form),
/// the scheme's default port left out.
pub fn check_origin(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw == "*" {
        return Err(
            "* is not allowed in a site's cors_origins; list each origin (the server-wide JEKCMS_CORS_ORIGINS may allow every origin)"
                .to_owned(),
        );
    }
    let bad =
        || format!("{raw:?} is not an origin such as https://example.com or http://localhost:3000");
    let url = url::Url::parse(raw).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{raw:?} must use http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw:?} must not contain a user or password"));
    }
    if url.path() != "/" || raw.ends_with('/') || url.query().is_some() || url.fragment().is_some()
    {
        return Err(format!(
            "{raw:?} must be scheme://host[:port] only, without a path, a query or a trailing slash"
        ));
    }
    match url.origin() {
        origin @ url::Origin::Tuple(..) => Ok(origin.ascii_serialization()),
        url::Origin::Opaque(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(e: AccountError) -> Vec<String> {
        match e {
            AccountError::Validation(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn origins() {
        for (raw, origin) in [
            ("https://example.com", "https://example.com"),
            ("HTTPS://WWW.Example.COM", "https://www.example.com"),
            ("http://localhost:3000", "http://localhost:3000"),
            ("https://example.com:443", "https://example.com"),
            ("http://example.com:8443", "http://example.com:8443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:5173", "http://[::1]:5173"),
            ("https://bücher.example", "https://xn--bcher-kva.example"),
        ] {
            assert_eq!(check_origin(raw).as_deref(), Ok(origin), "{raw}");
        }
        for bad in [
            "*",
            "",
            "example.com",
            "ftp://example.com",
            "https://example.com/",
            "https://example.com/blog",
            "https://example.com?x=1",
            "https://example.com#top",
            "https://user:pw@example.com",
            "https://example.com:99999",
            "null",
            "file:///etc",
            "https://",
        ] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patches() {
        let p = SitePatch::parse(&json!({
            "name": " Blog ",
            "cors_origins": ["https://b.example", "https://A.example", "https://a.example"]
        }))
        .unwrap();
        assert_eq!(p.name.as_deref(), Some("Blog"));
        assert_eq!(
            p.cors_origins.unwrap(),
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(SitePatch::parse(&json!({})).unwrap(), SitePatch::default());
        assert_eq!(
            SitePatch::parse(&json!({"cors_origins": []}))
                .unwrap()
                .cors_origins,
            Some(vec![])
        );
        assert_eq!(
            fields(
                SitePatch::parse(&json!({
                    "plan": "agency", "api_access": true, "name": "",
                    "cors_origins": ["https://ok.example", "*", 3, "https://x.example/"]
                }))
                .unwrap_err()
            ),
            [
                "api_access",
                "plan",
                "name",
                "cors_origins[1]",
                "cors_origins[2]",
                "cors_origins[3]"
            ]
        );
        assert_eq!(
            fields(SitePatch::parse(&json!({"cors_origins": "https://a.example"})).unwrap_err()),
            ["cors_origins"]
        );
        assert_eq!(
            fields(SitePatch::parse(&json!({"name": null})).unwrap_err()),
            ["name"]
        );
        let many: Vec<String> = (0..51).map(|i| format!("https://s{i}.example")).collect();
        assert_eq!(
            fields(SitePatch::parse(&json!({ "cors_origins": many })).unwrap_err()),
            ["cors_origins"]
        );
        let fifty: Vec<String> = (0..50)
            .map(|i| format!("https://s{i}.example"))
            .chain(["https://S0.example".to_owned()])
            .collect();
        assert_eq!(
            SitePatch::parse(&json!({ "cors_origins": fifty }))
                .unwrap()
                .cors_origins
                .unwrap()
                .len(),
            50,
            "50 distinct once normalised"
        );
    }
}
