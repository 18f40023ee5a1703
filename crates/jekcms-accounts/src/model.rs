//! Users, sites and keys as the API shows them, and the request bodies that create and
//! change them, each parsed with one [`FieldError`](crate::FieldError) per bad field.

use crate::AccountError;
use chrono::{DateTime, Utc};
use jekcms_auth::Role;
use jekcms_envelope::fields::Fields;
use serde::Serialize;
use serde_json::Value;

/// A user of a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// Id.
    pub id: i64,
    /// The site the user belongs to.
    pub site_id: i64,
    /// Display name.
    pub name: String,
    /// Email, lower case; unique within the site.
    pub email: String,
    /// `viewer`, `author`, `editor`, `admin` or `owner`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "editor"))]
    pub role: Role,
    /// Whether the user can log in with a password (users made for API keys only cannot).
    pub has_password: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A site (tenant): every user, key, post and medium belongs to one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Site {
    /// Id.
    pub id: i64,
    /// Unique slug.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// Site slugs registration never takes: the operator's (`jekcms keys create` and
/// `jekcms seed` use `default` unless told otherwise), so that a registrant can never end
/// up owning the site the operator's commands write to.
pub const RESERVED_SITE_SLUGS: [&str; 1] = ["default"];

/// Which kind of key to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFamily {
    /// `api_` id + `sk_` secret, exchanged for a token pair.
    Api,
    /// One `mcp_` token for the MCP endpoint.
    Mcp,
}

impl KeyFamily {
    /// Stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Mcp => "mcp",
        }
    }
}

/// An API key as listed: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    /// Id (the `{id}` of `DELETE /api/v2/api-keys/{id}`).
    pub id: i64,
    /// Public part: the `api_…` key id, or for an `mcp_…` token an `mcpid_…` id of its own
    /// (random, no part of the token).
    pub key_id: String,
    /// A label.
    pub name: String,
    /// `api` or `mcp`.
    pub family: String,
    /// The user the key acts as.
    pub user_id: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last exchange for a token pair (or v1 call), if any.
    pub last_used_at: Option<DateTime<Utc>>,
    /// After this the key is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set once revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created, with its secret: shown in this response only.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedKey {
    /// The key.
    #[serde(flatten)]
    pub key: ApiKey,
    /// `api` family: the `api_…` key id to send to `/auth/token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// `api` family: the `sk_…` secret. Shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_secret: Option<String>,
    /// `mcp` family: the `mcp_…` token. Shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// A user to store.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Display name.
    pub name: String,
    /// Email, normalised.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Argon2id PHC string, if the user may log in.
    pub password_hash: Option<String>,
}

/// A change to a stored user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    /// New name.
    pub name: Option<String>,
    /// New email.
    pub email: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New Argon2id PHC string.
    pub password_hash: Option<String>,
    /// End every session of the user (demotion, password change): their access tokens are
    /// refused from the next request on.
    pub end_sessions: bool,
}

/// A key to store.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Its user.
    pub user_id: i64,
    /// Family.
    pub family: KeyFamily,
    /// Label.
    pub name: String,
    /// Public id.
    pub public_id: String,
    /// SHA-256 of the secret.
    pub secret_hash: jekcms_auth::SecretHash,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
}

/// `POST /auth/register`.
#[derive(Debug, Clone)]
pub struct Registration {
    /// The owner's name.
    pub name: String,
    /// The owner's email.
    pub email: String,
    /// The owner's password (checked, not yet hashed).
    pub password: String,
    /// The new site's name.
    pub site_name: String,
}

/// `POST /users`.
#[derive(Debug, Clone)]
pub struct UserRequest {
    /// Name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Optional password (checked, not yet hashed).
    pub password: Option<String>,
}

/// `PATCH /users/{id}`: absent fields are unchanged.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New name.
    pub name: Option<String>,
    /// New email.
    pub email: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New password (checked, not yet hashed).
    pub password: Option<String>,
    /// The user's password now: required to change one's own password or email.
    pub current_password: Option<String>,
}

/// `POST /api-keys`.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    /// Label.
    pub name: String,
    /// The user it acts as; the caller when absent.
    pub user_id: Option<i64>,
    /// Family.
    pub family: KeyFamily,
    /// Optional expiry, in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Reads `body` as an object of the `allowed` fields ([`Fields`], shared by every body of
/// the API).
fn fields(body: &Value, allowed: &[&str]) -> Result<Fields, AccountError> {
    Fields::new(body.clone(), allowed).map_err(AccountError::Validation)
}

/// Every problem [`Fields`] found, as an account error.
fn finish(f: Fields) -> Result<(), AccountError> {
    f.finish(()).map_err(AccountError::Validation)
}

/// Normalises an email (trimmed, lower case) or says why it is not one.
pub fn normalise_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let bad = || "email must be an address such as name@example.com".to_owned();
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.') =>
        {
            Ok(email)
        }
        _ => Err(bad()),
    }
}

/// A display name: trimmed, 1–100 characters, no control characters.
pub fn check_name(field: &str, raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let n = name.chars().count();
    if n == 0 || n > 100 || name.chars().any(char::is_control) {
        return Err(format!(
            "{field} must be 1–100 characters without control characters"
        ));
    }
    Ok(name.to_owned())
}

fn check_password(raw: &str) -> Result<String, String> {
    jekcms_auth::password::check_rules(raw).map(|()| raw.to_owned())
}

fn check_role(raw: &str) -> Result<Role, String> {
    raw.parse()
        .map_err(|e: jekcms_auth::policy::UnknownRole| e.to_string())
}

impl Registration {
    /// Parses `{"name","email","password","site_name"}`.
    pub fn parse(body: &Value) -> Result<Self, AccountError> {
        let mut f = fields(body, &["name", "email", "password", "site_name"])?;
        let name = f.checked("name", true, |s| check_name("name", s));
        let email = f.checked("email", true, normalise_email);
        let password = f.checked("password", true, check_password);
        let site_name = f.checked("site_name", true, |s| check_name("site_name", s));
        finish(f)?;
        Ok(Self {
            name: name.expect("checked"),
            email: email.expect("checked"),
            password: password.expect("checked"),
            site_name: site_name.expect("checked"),
        })
    }
}

/// `POST /auth/login`.
#[derive(Debug, Clone)]
pub struct Login {
    /// Email, trimmed and lower case.
    pub email: String,
    /// Password.
    pub password: String,
    /// Slug of the site to sign in to; needed only when the email belongs to several.
    pub site: Option<String>,
}

impl Login {
    /// Parses `{"email","password","site"?}`. Shape errors only: whether the pair is right
    /// is the login's business, and a malformed email is simply a wrong one.
    pub fn parse(body: &Value) -> Result<Self, AccountError> {
        let mut f = fields(body, &["email", "password", "site"])?;
        let email = f.string_with_nul("email", true);
        let password = f.string_with_nul("password", true);
        let site = f.string_with_nul("site", false);
        finish(f)?;
        Ok(Self {
            email: email.expect("checked").trim().to_lowercase(),
            password: password.expect("checked"),
            site: site.map(|s| s.trim().to_owned()),
        })
    }
}

impl UserRequest {
    /// Parses `{"name","email","role","password"?}`.
    pub fn parse(body: &Value) -> Result<Self, AccountError> {
        let mut f = fields(body, &["name", "email", "role", "password"])?;
        let name = f.checked("name", true, |s| check_name("name", s));
        let email = f.checked("email", true, normalise_email);
        let role = f.checked("role", true, check_role);
        let password = f.checked("password", false, check_password);
        finish(f)?;
        Ok(Self {
            name: name.expect("checked"),
            email: email.expect("checked"),
            role: role.expect("checked"),
            password,
        })
    }
}

impl UserPatch {
    /// Parses a merge patch of `name`, `email`, `role`, `password`, and the
    /// `current_password` that confirms a change of one's own password or email (none may
    /// be `null`).
    pub fn parse(body: &Value) -> Result<Self, AccountError> {
        let mut f = fields(
            body,
            &["name", "email", "role", "password", "current_password"],
        )?;
        let patch = Self {
            name: f.checked("name", false, |s| check_name("name", s)),
            email: f.checked("email", false, normalise_email),
            role: f.checked("role", false, check_role),
            password: f.checked("password", false, check_password),
            current_password: f.string("current_password", false),
        };
        finish(f)?;
        Ok(patch)
    }
}

impl KeyRequest {
    /// Parses `{"name", "user_id"?, "family", "expires_at"?}`; `family` defaults to `api`.
    pub fn parse(body: &Value, now: DateTime<Utc>) -> Result<Self, AccountError> {
        let mut f = fields(body, &["name", "user_id", "family", "expires_at"])?;
        let name = f.checked("name", true, |s| check_name("name", s));
        let user_id = f.optional_integer("user_id");
        let family = f
            .checked("family", false, |s| match s {
                "api" => Ok(KeyFamily::Api),
                "mcp" => Ok(KeyFamily::Mcp),
                _ => Err("family must be api or mcp".to_owned()),
            })
            .unwrap_or(KeyFamily::Api);
        let expires_at = match f.take("expires_at") {
            None | Some(Value::Null) => None,
            Some(v) => f.as_string("expires_at", v).and_then(|raw| {
                f.check("expires_at", &raw, |s| {
                    let t = DateTime::parse_from_rfc3339(s)
                        .map_err(|_| "expires_at must be an RFC 3339 time".to_owned())?
                        .with_timezone(&Utc);
                    if t <= now {
                        return Err("expires_at must be in the future".to_owned());
                    }
                    // Both stores keep microseconds.
                    DateTime::from_timestamp_micros(t.timestamp_micros())
                        .ok_or_else(|| "expires_at is out of range".to_owned())
                })
            }),
        };
        finish(f)?;
        Ok(Self {
            name: name.expect("checked"),
            user_id,
            family,
            expires_at,
        })
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
    fn registration_reports_every_bad_field() {
        let e = Registration::parse(
            &json!({"name": "", "email": "nope", "password": "short", "colour": 1}),
        )
        .unwrap_err();
        assert_eq!(
            fields(e),
            ["colour", "name", "email", "password", "site_name"]
        );
        let ok = Registration::parse(&json!({
            "name": " Ada ", "email": " Ada@Example.COM ", "password": "correct horse battery", "site_name": "Blog"
        }))
        .unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.email.as_str()),
            ("Ada", "ada@example.com")
        );
    }

    #[test]
    fn nul_is_refused_in_every_string_field_but_a_login() {
        let nul = "a\u{0}b";
        assert_eq!(
            fields(
                UserRequest::parse(
                    &json!({"name": nul, "email": nul, "role": nul, "password": format!("{nul}-long-enough")})
                )
                .unwrap_err()
            ),
            ["name", "email", "role", "password"]
        );
        assert_eq!(
            fields(
                KeyRequest::parse(&json!({"name": nul, "expires_at": nul}), jekcms_auth::now())
                    .unwrap_err()
            ),
            ["name", "expires_at"]
        );
        // A login takes it as it comes: it is a wrong email, answered as one.
        let login = Login::parse(&json!({"email": "x\u{0}@example.com", "password": nul})).unwrap();
        assert!(login.email.contains('\0'));
    }

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@sub.example.org"] {
            assert!(normalise_email(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@.co", "a@co.",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_patch_refuses_null_and_unknown_roles() {
        assert_eq!(
            fields(UserPatch::parse(&json!({"name": null, "role": "root"})).unwrap_err()),
            ["name", "role"]
        );
        let p = UserPatch::parse(&json!({"role": "viewer"})).unwrap();
        assert_eq!(p.role, Some(Role::Viewer));
        assert!(p.name.is_none() && p.password.is_none());
    }

    #[test]
    fn key_requests() {
        let now = jekcms_auth::now();
        let k = KeyRequest::parse(&json!({"name": "ci"}), now).unwrap();
        assert_eq!(
            (k.family, k.user_id, k.expires_at),
            (KeyFamily::Api, None, None)
        );
        assert_eq!(
            fields(
                KeyRequest::parse(
                    &json!({"name": "x", "family": "pk", "expires_at": "2001-01-01T00:00:00Z", "user_id": "3"}),
                    now
                )
                .unwrap_err()
            ),
            ["user_id", "family", "expires_at"]
        );
        let k = KeyRequest::parse(
            &json!({"name": "x", "family": "mcp", "expires_at": "2999-01-01T00:00:00Z"}),
            now,
        )
        .unwrap();
        assert_eq!(k.family, KeyFamily::Mcp);
        assert!(k.expires_at.is_some());
    }
}
