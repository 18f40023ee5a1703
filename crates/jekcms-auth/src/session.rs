//! Sessions and the token pair: exchanging an API key for tokens, rotating refresh tokens
//! with reuse detection (RFC 9700 §4.14), revoking, and turning a bearer token into the
//! [`Principal`] it acts for.
//!
//! [`TokenService`] holds the rules; a [`SessionStore`] (implemented by `jekcms-store`)
//! holds the state and makes each step atomic.

use crate::credential::{CredentialFamily, SecretHash};
use crate::plan::Plan;
use crate::policy::Role;
use crate::{AccessClaims, AccessTokens, AuthError};
use chrono::{DateTime, Duration, Utc};
use std::future::Future;

/// How a session was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFamily {
    /// From an API key at `/auth/token`.
    Api,
    /// From an email and password at `/auth/login`.
    Password,
}

impl SessionFamily {
    /// Stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Password => "password",
        }
    }
}

/// An API key as stored: the public id in clear, the secret only as a hash.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// Row id.
    pub id: i64,
    /// The public id (`api_…`, or an MCP token's `mcpid_…`).
    pub public_id: String,
    /// The site of its user.
    pub site_id: i64,
    /// The user it acts as.
    pub user_id: i64,
    /// `api` or `mcp`.
    pub family: String,
    /// Hash of the secret half.
    pub secret_hash: SecretHash,
    /// After this it is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set once revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A session to open together with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Its site.
    pub site_id: i64,
    /// Its user.
    pub user_id: i64,
    /// The key it came from, if any.
    pub api_key_id: Option<i64>,
    /// How it started.
    pub family: SessionFamily,
    /// Start time.
    pub created_at: DateTime<Utc>,
    /// Absolute end: no refresh extends a session past this.
    pub expires_at: DateTime<Utc>,
    /// Hash of the first refresh token.
    pub refresh_hash: SecretHash,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current; it is now used and the new one is stored.
    Rotated {
        /// The session.
        session_id: i64,
        /// Its user.
        user_id: i64,
        /// Its site.
        site_id: i64,
        /// When the session (and so the new refresh token) ends.
        session_expires_at: DateTime<Utc>,
    },
    /// Already used, within the grace window: refused, session kept.
    ReusedWithinGrace,
    /// Already used, after the grace window: the session has been revoked.
    ReuseDetected,
    /// Unknown, expired, or its session is revoked or over.
    Refused,
}

/// Who a request acts as, loaded fresh from the store on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The session.
    pub session_id: i64,
    /// How the session started.
    pub family: SessionFamily,
    /// Public id of the key it came from.
    pub key_public_id: Option<String>,
    /// Row id of the key it came from (the quota is the key's).
    pub api_key_id: Option<i64>,
    /// The user.
    pub user_id: i64,
    /// The user's name.
    pub user_name: String,
    /// The user's email.
    pub user_email: String,
    /// The user's current role.
    pub role: Role,
    /// The site.
    pub site_id: i64,
    /// The site's slug.
    pub site_slug: String,
    /// The site's name.
    pub site_name: String,
    /// Whether the site's license includes API access.
    pub site_api_access: bool,
    /// The site's plan (its per-site quotas), read by the same query.
    pub site_plan: Plan,
    /// The site's content version as this request found it (bumped by every write to the
    /// site's posts and media): list `ETag`s are made from it, at no extra query.
    pub site_content_version: i64,
}

/// The user an API key acts as, read fresh on every use of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHolder {
    /// The user's current role.
    pub role: Role,
    /// Whether the user's site's license includes API access.
    pub site_api_access: bool,
    /// The user's site's plan.
    pub site_plan: Plan,
}

/// Who a request authenticated with an API key pair (v1's `X-API-Key` + `X-API-Secret`)
/// acts as. There is no session: the pair is checked on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrincipal {
    /// Row id of the key (rate limits are counted per key).
    pub key_id: i64,
    /// Public id of the key (what the activity log shows).
    pub key_public_id: String,
    /// The user.
    pub user_id: i64,
    /// The site.
    pub site_id: i64,
    /// The user's current role.
    pub role: Role,
    /// Whether the site's license includes API access.
    pub site_api_access: bool,
    /// The site's plan.
    pub site_plan: Plan,
}

/// A failure of the store itself (not of the credential).
#[derive(Debug, thiserror::Error)]
pub enum StoreFailure {
    /// The database cannot be reached.
    #[error("store unavailable")]
    Unavailable,
    /// Anything else; the source is for logs.
    #[error("store error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// State behind the token pair. Each method is one atomic step.
pub trait SessionStore: Send + Sync {
    /// The key with this public id, if any, and the user it acts as (`None` if the user's
    /// stored role is unreadable), in one read: every key exchange and v1 request reads both.
    fn find_api_key(
        &self,
        public_id: &str,
    ) -> impl Future<Output = Result<Option<(StoredKey, Option<KeyHolder>)>, StoreFailure>> + Send;

    /// The key whose secret hashes to `hash` and the user it acts as, in one read, if both
    /// exist: how an `mcp_` token, which is its key's only secret, finds its key on every
    /// call.
    fn find_key_by_secret(
        &self,
        hash: &SecretHash,
    ) -> impl Future<Output = Result<Option<(StoredKey, KeyHolder)>, StoreFailure>> + Send;

    /// Opens a session and stores its first refresh token, and for a key's session records
    /// that the key was used at the session's start, all in one atomic step; returns the
    /// session id.
    fn open_session(
        &self,
        session: NewSession,
    ) -> impl Future<Output = Result<i64, StoreFailure>> + Send;

    /// Atomically consumes `presented` and stores `replacement`, or reports why not.
    /// Two concurrent calls with the same `presented` token: exactly one is `Rotated`.
    /// A token used more than `grace` ago revokes its session.
    fn rotate_refresh(
        &self,
        presented: &SecretHash,
        replacement: &SecretHash,
        now: DateTime<Utc>,
        grace: Duration,
    ) -> impl Future<Output = Result<Rotation, StoreFailure>> + Send;

    /// Revokes the session this refresh token belongs to (used or not). No-op if unknown.
    fn revoke_by_refresh(
        &self,
        presented: &SecretHash,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreFailure>> + Send;

    /// The principal of a live session: `None` if the session is revoked or over, its key
    /// revoked or expired, or its user gone.
    fn principal(
        &self,
        session_id: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Principal>, StoreFailure>> + Send;
}

/// A freshly issued token pair.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// PASETO access token.
    pub access_token: String,
    /// `rf_` refresh token, shown once.
    pub refresh_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Seconds the refresh token lives.
    pub refresh_expires_in: i64,
    /// The session both belong to.
    pub session_id: i64,
}

/// Errors of the token service: a refused credential, or a store failure.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The credential was refused.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The credential is good but its site's license does not include API access: no
    /// token is issued that every request would then refuse.
    #[error("this site's license does not include API access")]
    LicenseRequired,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreFailure),
}

/// Lifetimes of the token pair.
#[derive(Debug, Clone, Copy)]
pub struct TokenPolicy {
    /// Refresh-token (and session) lifetime.
    pub refresh_ttl: Duration,
    /// How long after a rotation the old token is refused without revoking the session.
    pub reuse_grace: Duration,
}

/// The rules of the token pair, over any [`SessionStore`].
#[derive(Debug)]
pub struct TokenService<S> {
    store: S,
    access: AccessTokens,
    policy: TokenPolicy,
}

const BAD_KEY: &str = "the API key or secret is invalid";

/// What `/mcp` takes, for a refusal of anything else.
const MCP_TAKES: &str = "the MCP endpoint /mcp authenticates with an mcp_ token (Authorization: Bearer mcp_…, made by `jekcms keys create --family mcp` or POST /api/v2/api-keys with family mcp)";

/// An unknown or malformed `mcp_` token.
const BAD_MCP_TOKEN: &str = "the mcp_ token is invalid";

impl<S: SessionStore> TokenService<S> {
    /// A service minting access tokens with `access` and storing state in `store`.
    pub fn new(store: S, access: AccessTokens, policy: TokenPolicy) -> Self {
        Self {
            store,
            access,
            policy,
        }
    }

    /// The same rules over another store: e.g. a handle on the same database with
    /// connections of its own.
    pub fn with_store<T: SessionStore>(&self, store: T) -> TokenService<T> {
        TokenService {
            store,
            access: self.access.clone(),
            policy: self.policy,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The access-token minter.
    pub fn access_tokens(&self) -> &AccessTokens {
        &self.access
    }

    /// Checks an API key id and secret: well-formed, known, the secret matches (in constant
    /// time; a miss hashes too, so both refusals take the same time), the `api` family
    /// (an `mcp_` key is refused with the message saying where it belongs), not revoked,
    /// not expired.
    async fn check_key_pair(
        &self,
        key_id: &str,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<(StoredKey, KeyHolder), SessionError> {
        for (value, family) in [
            (key_id, CredentialFamily::ApiKey),
            (secret, CredentialFamily::ApiSecret),
        ] {
            if !family.is_well_formed(value) {
                return Err(match CredentialFamily::detect(value) {
                    Some(other) if other != family => AuthError::invalid(other.belongs()),
                    _ => AuthError::invalid(BAD_KEY),
                }
                .into());
            }
        }
        let found = self.store.find_api_key(key_id).await?;
        let presented_ok = match &found {
            Some((k, _)) => k.secret_hash.matches(secret),
            None => {
                let _ = SecretHash::of(secret);
                false
            }
        };
        let (key, holder) = match found {
            Some(found) if presented_ok => found,
            _ => return Err(AuthError::invalid(BAD_KEY).into()),
        };
        if key.family != "api" {
            return Err(AuthError::invalid(CredentialFamily::Mcp.belongs()).into());
        }
        if key.revoked_at.is_some() {
            return Err(AuthError::invalid("the API key has been revoked").into());
        }
        if key.expires_at.is_some_and(|t| t <= now) {
            return Err(AuthError::invalid("the API key has expired").into());
        }
        let holder =
            holder.ok_or_else(|| AuthError::invalid("the API key's user no longer exists"))?;
        Ok((key, holder))
    }

    /// Authenticates a request by its API key pair alone (the legacy v1 API), without
    /// opening a session: the same checks as [`TokenService::exchange_api_key`], plus the
    /// user's current role, read fresh, so revoking the key or demoting or deleting the user
    /// takes effect on the next request.
    pub async fn authenticate_key_pair(
        &self,
        key_id: &str,
        secret: &str,
    ) -> Result<KeyPrincipal, SessionError> {
        let (key, holder) = self.check_key_pair(key_id, secret, crate::now()).await?;
        Ok(KeyPrincipal {
            key_id: key.id,
            key_public_id: key_id.to_owned(),
            user_id: key.user_id,
            site_id: key.site_id,
            role: holder.role,
            site_api_access: holder.site_api_access,
            site_plan: holder.site_plan,
        })
    }

    /// Authenticates a request to `/mcp` by its `mcp_` token, without opening a session:
    /// well-formed (an `api_` key, `sk_` secret or access token is refused with a message
    /// saying what `/mcp` takes), known, of the `mcp` family, not revoked, not expired; then
    /// the user's current role, read fresh, so revoking the token or demoting or deleting
    /// the user takes effect on the next call.
    pub async fn authenticate_mcp(&self, token: &str) -> Result<KeyPrincipal, SessionError> {
        let hash = Self::mcp_token_hash(token)?;
        let found = self.store.find_key_by_secret(&hash).await?;
        Self::accept_mcp_key(found)
    }

    /// The first half of [`authenticate_mcp`](Self::authenticate_mcp): the hash to look an
    /// `mcp_` token up by, if it is one. The token is random and long: its SHA-256 is a safe
    /// lookup key, and an equal hash is an equal token, so no comparison of secrets is left
    /// to time.
    pub fn mcp_token_hash(token: &str) -> Result<SecretHash, SessionError> {
        if !CredentialFamily::Mcp.is_well_formed(token) {
            return Err(AuthError::invalid(match CredentialFamily::detect(token) {
                Some(CredentialFamily::Mcp) | None => BAD_MCP_TOKEN.to_owned(),
                Some(other) => format!("{MCP_TAKES}; {}", other.belongs()),
            })
            .into());
        }
        Ok(SecretHash::of(token))
    }

    /// The second half of [`authenticate_mcp`](Self::authenticate_mcp): the key found by
    /// the token's hash (with its user: a key whose user is gone is no key, its row goes with
    /// the user), accepted only if it is an `mcp` key, not revoked and not expired.
    pub fn accept_mcp_key(
        found: Option<(StoredKey, KeyHolder)>,
    ) -> Result<KeyPrincipal, SessionError> {
        let (key, holder) = found
            .filter(|(k, _)| k.family == "mcp")
            .ok_or_else(|| AuthError::invalid(BAD_MCP_TOKEN))?;
        if key.revoked_at.is_some() {
            return Err(AuthError::invalid("the MCP token has been revoked").into());
        }
        if key.expires_at.is_some_and(|t| t <= crate::now()) {
            return Err(AuthError::invalid("the MCP token has expired").into());
        }
        Ok(KeyPrincipal {
            key_id: key.id,
            key_public_id: key.public_id,
            user_id: key.user_id,
            site_id: key.site_id,
            role: holder.role,
            site_api_access: holder.site_api_access,
            site_plan: holder.site_plan,
        })
    }

    /// Exchanges an API key id and secret for a new session's token pair; `LicenseRequired`
    /// when the key is good but its site has no API access.
    pub async fn exchange_api_key(
        &self,
        key_id: &str,
        secret: &str,
    ) -> Result<TokenPair, SessionError> {
        let now = crate::now();
        let (key, holder) = self.check_key_pair(key_id, secret, now).await?;
        if !holder.site_api_access {
            return Err(SessionError::LicenseRequired);
        }
        let refresh_token = CredentialFamily::Refresh.generate();
        let expires_at = now + self.policy.refresh_ttl;
        let session_id = self
            .store
            .open_session(NewSession {
                site_id: key.site_id,
                user_id: key.user_id,
                api_key_id: Some(key.id),
                family: SessionFamily::Api,
                created_at: now,
                expires_at,
                refresh_hash: SecretHash::of(&refresh_token),
            })
            .await?;
        // No second lookup of the session here: a user deleted meanwhile cannot own one
        // (foreign key), and a key revoked meanwhile fails the first request that uses it.
        Ok(self.pair(
            session_id,
            key.user_id,
            key.site_id,
            refresh_token,
            expires_at,
            now,
        ))
    }

    /// Opens a session for a user who has just proved who they are with their password
    /// (login, registration) and returns its first token pair.
    pub async fn open_password_session(
        &self,
        user_id: i64,
        site_id: i64,
    ) -> Result<TokenPair, SessionError> {
        let now = crate::now();
        let refresh_token = CredentialFamily::Refresh.generate();
        let expires_at = now + self.policy.refresh_ttl;
        let session_id = self
            .store
            .open_session(NewSession {
                site_id,
                user_id,
                api_key_id: None,
                family: SessionFamily::Password,
                created_at: now,
                expires_at,
                refresh_hash: SecretHash::of(&refresh_token),
            })
            .await?;
        Ok(self.pair(session_id, user_id, site_id, refresh_token, expires_at, now))
    }

    /// Rotates a refresh token into a new pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, SessionError> {
        if !CredentialFamily::Refresh.is_well_formed(refresh_token) {
            return Err(refused_refresh(refresh_token).into());
        }
        let now = crate::now();
        let replacement = CredentialFamily::Refresh.generate();
        let outcome = self
            .store
            .rotate_refresh(
                &SecretHash::of(refresh_token),
                &SecretHash::of(&replacement),
                now,
                self.policy.reuse_grace,
            )
            .await?;
        match outcome {
            Rotation::Rotated {
                session_id,
                user_id,
                site_id,
                session_expires_at,
            } => {
                if self.store.principal(session_id, now).await?.is_none() {
                    return Err(AuthError::invalid("the session has been revoked").into());
                }
                Ok(self.pair(
                    session_id,
                    user_id,
                    site_id,
                    replacement,
                    session_expires_at,
                    now,
                ))
            }
            Rotation::ReusedWithinGrace => Err(AuthError::invalid(
                "the refresh token has already been used; use the newest one",
            )
            .into()),
            Rotation::ReuseDetected => Err(AuthError::invalid(
                "the refresh token was used twice; the session has been revoked, authenticate again",
            )
            .into()),
            Rotation::Refused => Err(AuthError::invalid(
                "the refresh token is invalid, expired or revoked",
            )
            .into()),
        }
    }

    /// Ends the session of a refresh token (logout). Succeeds for unknown tokens too, so the
    /// answer reveals nothing.
    pub async fn revoke(&self, refresh_token: &str) -> Result<(), SessionError> {
        if !CredentialFamily::Refresh.is_well_formed(refresh_token) {
            return Ok(());
        }
        self.store
            .revoke_by_refresh(&SecretHash::of(refresh_token), crate::now())
            .await?;
        Ok(())
    }

    /// Checks a bearer access token and its session; returns who it acts as.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, SessionError> {
        let claims = self.verify_access(bearer)?;
        let principal = self
            .store
            .principal(claims.session_id, crate::now())
            .await?;
        Self::accept_session(&claims, principal)
    }

    /// The first half of [`authenticate`](Self::authenticate): the access token alone (its
    /// family, signature and expiry), before its session is read. What it names (session,
    /// user, site) may be used to start reading, never to answer: see
    /// [`accept_session`](Self::accept_session).
    pub fn verify_access(&self, bearer: &str) -> Result<AccessClaims, SessionError> {
        Ok(self.access.verify(bearer)?)
    }

    /// The second half of [`authenticate`](Self::authenticate): `principal`, the session of
    /// `claims` as the store read it (`None`: gone, revoked or expired), accepted only if it
    /// is still the token's user in the token's site.
    pub fn accept_session(
        claims: &AccessClaims,
        principal: Option<Principal>,
    ) -> Result<Principal, SessionError> {
        principal
            .filter(|p| p.user_id == claims.user_id && p.site_id == claims.site_id)
            .ok_or_else(|| AuthError::invalid("the access token has been revoked").into())
    }

    fn pair(
        &self,
        session_id: i64,
        user_id: i64,
        site_id: i64,
        refresh_token: String,
        refresh_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> TokenPair {
        TokenPair {
            access_token: self.access.issue(session_id, user_id, site_id),
            refresh_token,
            expires_in: self.access.ttl().as_secs() as i64,
            refresh_expires_in: (refresh_expires_at - now).num_seconds().max(0),
            session_id,
        }
    }
}

fn refused_refresh(presented: &str) -> AuthError {
    match CredentialFamily::detect(presented) {
        Some(f) if f != CredentialFamily::Refresh => AuthError::invalid(f.belongs()),
        _ => AuthError::invalid("the refresh token is invalid, expired or revoked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Keys and users in memory; the session methods are not needed by key-pair checks.
    #[derive(Default)]
    struct Keys {
        keys: HashMap<String, StoredKey>,
        holders: Mutex<HashMap<i64, KeyHolder>>,
    }

    impl SessionStore for Keys {
        async fn find_api_key(
            &self,
            public_id: &str,
        ) -> Result<Option<(StoredKey, Option<KeyHolder>)>, StoreFailure> {
            let holders = self.holders.lock().unwrap();
            Ok(self
                .keys
                .get(public_id)
                .map(|k| (k.clone(), holders.get(&k.user_id).cloned())))
        }
        async fn find_key_by_secret(
            &self,
            hash: &SecretHash,
        ) -> Result<Option<(StoredKey, KeyHolder)>, StoreFailure> {
            let holders = self.holders.lock().unwrap();
            Ok(self
                .keys
                .values()
                .find(|k| k.secret_hash.as_bytes() == hash.as_bytes())
                .and_then(|k| Some((k.clone(), holders.get(&k.user_id)?.clone()))))
        }
        async fn open_session(&self, _: NewSession) -> Result<i64, StoreFailure> {
            Err(StoreFailure::Unavailable)
        }
        async fn rotate_refresh(
            &self,
            _: &SecretHash,
            _: &SecretHash,
            _: DateTime<Utc>,
            _: Duration,
        ) -> Result<Rotation, StoreFailure> {
            Err(StoreFailure::Unavailable)
        }
        async fn revoke_by_refresh(
            &self,
            _: &SecretHash,
            _: DateTime<Utc>,
        ) -> Result<(), StoreFailure> {
            Err(StoreFailure::Unavailable)
        }
        async fn principal(
            &self,
            _: i64,
            _: DateTime<Utc>,
        ) -> Result<Option<Principal>, StoreFailure> {
            Ok(None)
        }
    }

    struct Fixture {
        service: TokenService<Keys>,
        key: String,
        secret: String,
    }

    /// A service with one key of each kind: `api` (good), `mcp`, revoked, expired, and one
    /// whose user is gone.
    fn fixture() -> (Fixture, HashMap<&'static str, String>) {
        let mut store = Keys::default();
        let secret = CredentialFamily::ApiSecret.generate();
        let mut names = HashMap::new();
        let now = crate::now();
        for (id, name, family, revoked, expired, user) in [
            (1, "good", "api", false, false, 10),
            (2, "mcp", "mcp", false, false, 10),
            (3, "revoked", "api", true, false, 10),
            (4, "expired", "api", false, true, 10),
            (5, "orphan", "api", false, false, 99),
        ] {
            let public = CredentialFamily::ApiKey.generate();
            names.insert(name, public.clone());
            store.keys.insert(
                public.clone(),
                StoredKey {
                    id,
                    public_id: public,
                    site_id: 1,
                    user_id: user,
                    family: family.into(),
                    secret_hash: SecretHash::of(&secret),
                    expires_at: expired.then(|| now - Duration::seconds(1)),
                    revoked_at: revoked.then_some(now),
                },
            );
        }
        store.holders.lock().unwrap().insert(
            10,
            KeyHolder {
                role: Role::Editor,
                site_api_access: true,
                site_plan: Plan::Starter,
            },
        );
        let policy = TokenPolicy {
            refresh_ttl: Duration::days(30),
            reuse_grace: Duration::seconds(10),
        };
        let access = AccessTokens::new(&[7; 32], std::time::Duration::from_secs(900));
        let key = names["good"].clone();
        (
            Fixture {
                service: TokenService::new(store, access, policy),
                key,
                secret,
            },
            names,
        )
    }

    fn refusal(r: Result<KeyPrincipal, SessionError>) -> String {
        match r {
            Err(SessionError::Auth(AuthError::Invalid(m))) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_key_pair_authenticates_as_its_user_with_the_current_role() {
        let (f, _) = fixture();
        let p = f
            .service
            .authenticate_key_pair(&f.key, &f.secret)
            .await
            .unwrap();
        assert_eq!(
            p,
            KeyPrincipal {
                key_id: 1,
                key_public_id: f.key.clone(),
                user_id: 10,
                site_id: 1,
                role: Role::Editor,
                site_api_access: true,
                site_plan: Plan::Starter,
            }
        );
        f.service
            .store()
            .holders
            .lock()
            .unwrap()
            .get_mut(&10)
            .unwrap()
            .role = Role::Viewer;
        let p = f
            .service
            .authenticate_key_pair(&f.key, &f.secret)
            .await
            .unwrap();
        assert_eq!(p.role, Role::Viewer, "the role is read on every request");
    }

    #[tokio::test]
    async fn bad_pairs_are_refused_with_the_right_message() {
        let (f, names) = fixture();
        let s = &f.service;
        let wrong = CredentialFamily::ApiSecret.generate();
        assert_eq!(
            refusal(s.authenticate_key_pair(&f.key, &wrong).await),
            BAD_KEY
        );
        let unknown = CredentialFamily::ApiKey.generate();
        assert_eq!(
            refusal(s.authenticate_key_pair(&unknown, &f.secret).await),
            BAD_KEY
        );
        assert_eq!(
            refusal(s.authenticate_key_pair("api_short", &f.secret).await),
            BAD_KEY
        );
        let m = refusal(s.authenticate_key_pair(&names["mcp"], &f.secret).await);
        assert!(m.contains("/mcp"), "{m}");
        let mcp_token = CredentialFamily::Mcp.generate();
        let m = refusal(s.authenticate_key_pair(&mcp_token, &f.secret).await);
        assert!(m.contains("/mcp"), "{m}");
        let m = refusal(s.authenticate_key_pair(&names["revoked"], &f.secret).await);
        assert!(m.contains("revoked"), "{m}");
        let m = refusal(s.authenticate_key_pair(&names["expired"], &f.secret).await);
        assert!(m.contains("expired"), "{m}");
        let m = refusal(s.authenticate_key_pair(&names["orphan"], &f.secret).await);
        assert!(m.contains("no longer exists"), "{m}");
    }

    #[tokio::test]
    async fn an_mcp_token_authenticates_its_key_and_nothing_else_does() {
        let mut store = Keys::default();
        let now = crate::now();
        let mut tokens = HashMap::new();
        for (id, name, family, revoked) in [
            (1, "good", "mcp", false),
            (2, "revoked", "mcp", true),
            (3, "api", "api", false),
        ] {
            let token = CredentialFamily::Mcp.generate();
            tokens.insert(name, token.clone());
            store.keys.insert(
                format!("mcpid_{id}"),
                StoredKey {
                    id,
                    public_id: format!("mcpid_{id}"),
                    site_id: 1,
                    user_id: 10,
                    family: family.into(),
                    secret_hash: SecretHash::of(&token),
                    expires_at: None,
                    revoked_at: revoked.then_some(now),
                },
            );
        }
        store.holders.lock().unwrap().insert(
            10,
            KeyHolder {
                role: Role::Author,
                site_api_access: true,
                site_plan: Plan::Starter,
            },
        );
        let access = AccessTokens::new(&[7; 32], std::time::Duration::from_secs(900));
        let policy = TokenPolicy {
            refresh_ttl: Duration::days(30),
            reuse_grace: Duration::seconds(10),
        };
        let access_token = access.issue(1, 10, 1);
        let s = TokenService::new(store, access, policy);
        let p = s.authenticate_mcp(&tokens["good"]).await.unwrap();
        assert_eq!((p.key_id, p.user_id, p.role), (1, 10, Role::Author));
        assert_eq!(p.key_public_id, "mcpid_1");
        let m = refusal(s.authenticate_mcp(&tokens["revoked"]).await);
        assert!(m.contains("revoked"), "{m}");
        let m = refusal(s.authenticate_mcp(&tokens["api"]).await);
        assert!(m.contains("invalid"), "{m}");
        let m = refusal(s.authenticate_mcp(&CredentialFamily::Mcp.generate()).await);
        assert!(m.contains("invalid"), "{m}");
        for other in [
            CredentialFamily::ApiKey.generate(),
            CredentialFamily::ApiSecret.generate(),
            access_token,
        ] {
            let m = refusal(s.authenticate_mcp(&other).await);
            assert!(m.contains("mcp_ token"), "{m}");
        }
    }
}
