//! Field errors and the one reader of JSON request bodies that produces them.
//!
//! A request body is read member by member with [`Fields`], which collects one
//! [`FieldError`] per bad field instead of stopping at the first, so a client learns every
//! problem in one round trip. The wording is the same for every body of the API:
//!
//! | problem | message |
//! |---|---|
//! | not an object | `body must be a JSON object` (a bulk item: `posts[3] must be …`) |
//! | a key the body does not take | `unknown field; allowed fields are a, b, c` |
//! | a required member absent | `title is required` |
//! | the wrong JSON type | `title must be a string` (`… an integer`) |
//! | a NUL character in a string | `title must not contain NUL` |
//!
//! NUL is refused because PostgreSQL cannot store it while SQLite would: data must move
//! between the stores unchanged. The one exception, a login, reads its strings with
//! [`Fields::string_with_nul`] (a NUL there is simply a wrong email or password).
//!
//! Duplicate keys never reach this reader: the server refuses them while parsing the bytes,
//! where the duplicate is still visible.
//!
//! ```
//! use jekcms_envelope::fields::Fields;
//! use serde_json::json;
//!
//! let body = json!({"name": "ci", "colour": 1});
//! let mut f = Fields::new(body, &["name", "expires_at"]).unwrap();
//! let name = f.string("name", true);
//! let expires_at = f.string("expires_at", false);
//! assert_eq!((name.as_deref(), expires_at), (Some("ci"), None));
//! let errors = f.finish(()).unwrap_err();
//! assert_eq!(errors[0].field, "colour");
//! assert_eq!(errors[0].message, "unknown field; allowed fields are name, expires_at");
//! ```

use serde_json::{Map, Value};

/// One invalid field or parameter: its name and what is wrong with it. Every crate of the
/// API reports validation problems as a list of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field or parameter, e.g. `title`, `posts[3].title` or `limit`.
    pub field: String,
    /// Human-readable reason.
    pub message: String,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A JSON object read field by field, collecting every problem (see the module
/// documentation for the messages).
///
/// Each member is taken at most once; what is left unread is not an error (unknown keys
/// were reported when the reader was made).
#[derive(Debug)]
pub struct Fields {
    map: Map<String, Value>,
    prefix: String,
    errors: Vec<FieldError>,
}

impl Fields {
    /// Reads `body`, which must be an object whose keys are among `allowed`. An unknown key
    /// is reported (and the reading goes on); anything but an object fails at once, as
    /// field `body`.
    pub fn new(body: Value, allowed: &[&str]) -> Result<Self, Vec<FieldError>> {
        Self::at("", body, allowed)
    }

    /// [`Fields::new`] for an object inside the body: `prefix` (e.g. `posts[3].`) is put
    /// before every field name reported, and anything but an object is reported as the
    /// prefix itself (`posts[3]`).
    pub fn at(prefix: &str, value: Value, allowed: &[&str]) -> Result<Self, Vec<FieldError>> {
        let Value::Object(map) = value else {
            let field = match prefix.trim_end_matches('.') {
                "" => "body",
                path => path,
            };
            return Err(vec![FieldError::new(
                field,
                format!("{field} must be a JSON object"),
            )]);
        };
        let errors = map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .map(|k| {
                FieldError::new(
                    format!("{prefix}{k}"),
                    format!("unknown field; allowed fields are {}", allowed.join(", ")),
                )
            })
            .collect();
        Ok(Self {
            map,
            prefix: prefix.to_owned(),
            errors,
        })
    }

    /// The raw member `field`, `null` included (for merge patches, where `null` means
    /// "clear"); `None` when absent.
    pub fn take(&mut self, field: &str) -> Option<Value> {
        self.map.remove(field)
    }

    /// Reports a problem with `field` (the prefix is added).
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .push(FieldError::new(format!("{}{field}", self.prefix), message));
    }

    /// `value`, taken from member `field`, as a string: anything else (`null` included) is
    /// reported as `must be a string`, and a NUL character as `must not contain NUL`.
    pub fn as_string(&mut self, field: &str, value: Value) -> Option<String> {
        let s = self.as_string_with_nul(field, value)?;
        if s.contains('\0') {
            self.fail(field, format!("{field} must not contain NUL"));
            return None;
        }
        Some(s)
    }

    /// [`Fields::as_string`] that lets a NUL character through.
    pub fn as_string_with_nul(&mut self, field: &str, value: Value) -> Option<String> {
        match value {
            Value::String(s) => Some(s),
            _ => {
                self.fail(field, format!("{field} must be a string"));
                None
            }
        }
    }

    /// The string member `field` ([`Fields::as_string`]); its absence is reported when
    /// `required`. `null` is never accepted.
    pub fn string(&mut self, field: &str, required: bool) -> Option<String> {
        let value = self.present(field, required)?;
        self.as_string(field, value)
    }

    /// [`Fields::string`] that lets a NUL character through: only for a login, where a NUL
    /// is simply a wrong email or password.
    pub fn string_with_nul(&mut self, field: &str, required: bool) -> Option<String> {
        let value = self.present(field, required)?;
        self.as_string_with_nul(field, value)
    }

    /// The string member `field` turned into a `T` by `check`, whose `Err` message is
    /// reported for the field.
    pub fn checked<T>(
        &mut self,
        field: &str,
        required: bool,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.string(field, required)?;
        self.check(field, &raw, check)
    }

    /// Runs `check` on a value already read from `field`, reporting its `Err` message.
    pub fn check<T>(
        &mut self,
        field: &str,
        raw: &str,
        check: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match check(raw) {
            Ok(v) => Some(v),
            Err(message) => {
                self.fail(field, message);
                None
            }
        }
    }

    /// The optional integer member `field`: `None` when absent or `null`; any other
    /// non-integer is reported as `must be an integer`.
    pub fn optional_integer(&mut self, field: &str) -> Option<i64> {
        match self.take(field)? {
            Value::Null => None,
            v => match v.as_i64() {
                Some(n) => Some(n),
                None => {
                    self.fail(field, format!("{field} must be an integer"));
                    None
                }
            },
        }
    }

    /// Whether a problem has been reported so far.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// `value` if nothing was reported, else every problem in the order found (unknown
    /// keys first).
    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }

    fn present(&mut self, field: &str, required: bool) -> Option<Value> {
        let value = self.take(field);
        if value.is_none() && required {
            self.fail(field, format!("{field} is required"));
        }
        value
    }
}

/// Reads a flat body into `T` when every one of `fields` is present: unknown keys, absent
/// fields and strings holding NUL are reported with the field named (and `T` is not built);
/// a value of the wrong type fails as field `body` naming the fields expected (serde does
/// not say which member it was).
pub fn deserialize_flat<T: serde::de::DeserializeOwned>(
    body: Value,
    fields: &[&str],
) -> Result<T, Vec<FieldError>> {
    let mut f = Fields::new(body, fields)?;
    let mut map = Map::new();
    for field in fields {
        let Some(value) = f.present(field, true) else {
            continue;
        };
        if value.as_str().is_some_and(|s| s.contains('\0')) {
            f.fail(field, format!("{field} must not contain NUL"));
        }
        map.insert((*field).to_owned(), value);
    }
    f.finish(())?;
    serde_json::from_value(Value::Object(map)).map_err(|_| {
        vec![FieldError::new(
            "body",
            format!(
                "expected {} with the types the documentation gives",
                fields.join(", ")
            ),
        )]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn named(errors: &[FieldError]) -> Vec<(&str, &str)> {
        errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect()
    }

    #[test]
    fn anything_but_an_object_fails_as_the_body_or_the_item() {
        for value in [json!([]), json!("x"), json!(null), json!(3)] {
            let e = Fields::new(value.clone(), &["a"]).unwrap_err();
            assert_eq!(named(&e), [("body", "body must be a JSON object")]);
            let e = Fields::at("posts[3].", value, &["a"]).unwrap_err();
            assert_eq!(named(&e), [("posts[3]", "posts[3] must be a JSON object")]);
        }
    }

    #[test]
    fn unknown_keys_come_first_with_the_allowed_list_and_the_prefix() {
        let mut f = Fields::at("posts[0].", json!({"b": 1, "title": 5}), &["title"]).unwrap();
        assert_eq!(f.string("title", true), None);
        let e = f.finish(()).unwrap_err();
        assert_eq!(
            named(&e),
            [
                ("posts[0].b", "unknown field; allowed fields are title"),
                ("posts[0].title", "title must be a string"),
            ]
        );
    }

    #[test]
    fn strings_are_typed_required_and_free_of_nul() {
        let body = json!({"a": "ok", "b": null, "c": "x\u{0}y", "d": 1});
        let mut f = Fields::new(body, &["a", "b", "c", "d", "e", "f"]).unwrap();
        assert_eq!(f.string("a", true).as_deref(), Some("ok"));
        assert_eq!(f.string("b", false), None);
        assert_eq!(f.string("c", false), None);
        assert_eq!(f.string("d", false), None);
        assert_eq!(f.string("e", true), None);
        assert_eq!(f.string("f", false), None);
        assert!(f.has_errors());
        assert_eq!(
            named(&f.finish(()).unwrap_err()),
            [
                ("b", "b must be a string"),
                ("c", "c must not contain NUL"),
                ("d", "d must be a string"),
                ("e", "e is required"),
            ]
        );
    }

    #[test]
    fn a_login_may_read_nul_and_checks_report_their_own_message() {
        let mut f = Fields::new(json!({"email": "a\u{0}", "n": "7x"}), &["email", "n"]).unwrap();
        assert_eq!(f.string_with_nul("email", true).as_deref(), Some("a\u{0}"));
        let n = f.checked("n", true, |s| {
            s.parse::<u8>()
                .map_err(|_| "n must be a small number".to_owned())
        });
        assert_eq!(n, None);
        assert_eq!(
            named(&f.finish(()).unwrap_err()),
            [("n", "n must be a small number")]
        );
    }

    #[test]
    fn raw_members_keep_null_and_integers_are_checked() {
        let body = json!({"x": null, "id": 4, "bad": "4", "none": null});
        let mut f = Fields::new(body, &["x", "id", "bad", "none", "absent"]).unwrap();
        assert_eq!(f.take("x"), Some(Value::Null));
        assert_eq!(f.take("x"), None, "a member is taken once");
        assert_eq!(f.optional_integer("id"), Some(4));
        assert_eq!(f.optional_integer("none"), None);
        assert_eq!(f.optional_integer("absent"), None);
        assert_eq!(f.optional_integer("bad"), None);
        assert_eq!(
            named(&f.finish(()).unwrap_err()),
            [("bad", "bad must be an integer")]
        );
        assert_eq!(Fields::new(json!({}), &[]).unwrap().finish(1), Ok(1));
    }

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Pair {
        key: String,
        n: u32,
    }

    #[test]
    fn flat_bodies_need_every_field_and_the_right_types() {
        let ok: Pair = deserialize_flat(json!({"key": "k", "n": 2}), &["key", "n"]).unwrap();
        assert_eq!(
            ok,
            Pair {
                key: "k".into(),
                n: 2
            }
        );
        let e =
            deserialize_flat::<Pair>(json!({"key": "k\u{0}", "x": 1}), &["key", "n"]).unwrap_err();
        assert_eq!(
            named(&e),
            [
                ("x", "unknown field; allowed fields are key, n"),
                ("key", "key must not contain NUL"),
                ("n", "n is required"),
            ]
        );
        let e = deserialize_flat::<Pair>(json!({"key": 1, "n": "2"}), &["key", "n"]).unwrap_err();
        assert_eq!(
            named(&e),
            [(
                "body",
                "expected key, n with the types the documentation gives"
            )]
        );
        let e = deserialize_flat::<Pair>(json!([]), &["key", "n"]).unwrap_err();
        assert_eq!(named(&e), [("body", "body must be a JSON object")]);
    }
}
