//! The caller of the pull API (`/api/v2/pull/*`): a site's `pk_` key in `X-API-Key`, and
//! nothing else (API.md §9).
//!
//! One indexed read per request finds the key's site with its license, plan, content
//! version and next scheduled publication; the page cache needs the last two, so a pull
//! request that is answered from the cache runs exactly this one statement (and none under
//! a pull lease: `pull_cache`). A list page that is not in the cache is read together with
//! that statement ([`PullKey::read_with`]), on PostgreSQL in one round trip.

use crate::context;
use crate::errors::AppError;
use crate::pull_cache::KnownKey;
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::{DateTime, Utc};
use futures_util::future::LocalBoxFuture;
use jekcms_auth::{CredentialFamily, SecretHash};
use jekcms_content::pull::{PullRepository, PullSite};
use jekcms_envelope::ErrorCode;
use jekcms_ratelimit::SiteApi;
use std::time::Instant;

/// What every refusal of a credential other than a pull key says.
const PULL_KEY_ONLY: &str = "the pull API takes the site's pk_ key in the X-API-Key header (made by POST /api/v2/sites/{id}/rotate-keys)";

/// An authenticated pull request: the key's site, read at `now`.
#[derive(Debug, Clone)]
pub struct PullCaller {
    /// The site, its content version and next scheduled publication.
    pub site: PullSite,
    /// The time the site was read at: the visibility of posts is judged at this moment.
    pub now: DateTime<Utc>,
}

/// The pull key of a request, or why there is none.
fn pull_key(req: &HttpRequest) -> Result<String, AppError> {
    let refused = |message: &str| AppError::new(ErrorCode::AuthInvalid, message.to_owned());
    let key = match req.headers().get("x-api-key") {
        Some(value) => value
            .to_str()
            .map(|v| v.trim().to_owned())
            .map_err(|_| refused("the X-API-Key header is malformed"))?,
        None => {
            if req.headers().contains_key(header::AUTHORIZATION) {
                context::mark_token_presented();
            }
            return Err(refused(PULL_KEY_ONLY));
        }
    };
    context::mark_token_presented();
    match CredentialFamily::detect(&key) {
        Some(CredentialFamily::Pull) if CredentialFamily::Pull.is_well_formed(&key) => Ok(key),
        Some(CredentialFamily::Pull) => Err(refused("the pull key is malformed")),
        Some(other) => Err(refused(&format!(
            "{} {PULL_KEY_ONLY}",
            match other {
                CredentialFamily::ApiKey => "api_ keys authenticate the management API;",
                CredentialFamily::Mcp => "mcp_ tokens authenticate the MCP endpoint at /mcp;",
                _ => "this credential does not authenticate the pull API;",
            }
        ))),
        None => Err(refused(PULL_KEY_ONLY)),
    }
}

/// A request's pull key, read from its headers; nothing is checked yet (a malformed or
/// missing key is refused here, without touching the database).
#[derive(Debug)]
pub struct PullKey {
    hash: SecretHash,
}

impl FromRequest for PullKey {
    type Error = AppError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(pull_key(req).map(|key| PullKey {
            hash: SecretHash::of(&key),
        }))
    }
}

impl PullKey {
    /// What this key told when last accepted by this instance.
    pub fn known(&self, state: &AppState) -> Option<KnownKey> {
        state.pull_cache.known_key(&self.hash.0)
    }

    /// Checks the key (one indexed read, none while this instance holds a lease on what
    /// `known` told: [`PullKey::known`]), then the site's license, quota and origin.
    pub async fn authenticate(
        &self,
        state: &AppState,
        req: &HttpRequest,
        known: Option<KnownKey>,
    ) -> Result<PullCaller, AppError> {
        let now = jekcms_content::now();
        let site = match known.filter(|k| state.pull_cache.lease_holds(k, now)) {
            Some(leased) => Some(leased.site),
            None => {
                let sent = Instant::now();
                let site = state.store.pull_site(&self.hash.0, now).await?;
                if let Some(site) = &site {
                    state.pull_cache.remember_key(self.hash.0, site, sent);
                }
                site
            }
        };
        self.admit(state, req, site, now).await
    }

    /// Runs `read` (given the time the key is checked at) with the key's check, in one
    /// round trip on PostgreSQL when the read's first query carries it
    /// (`Store::read_pull_checked`); then the site's license, quota and origin. The read's
    /// output is discarded unless all of them accept the request, and its error is the
    /// answer only then: a bad key is refused as such whatever the query says.
    pub async fn read_with<T>(
        &self,
        state: &AppState,
        req: &HttpRequest,
        read: impl AsyncFnOnce(DateTime<Utc>) -> Result<T, AppError>,
    ) -> Result<(PullCaller, T), AppError> {
        let now = jekcms_content::now();
        let sent = Instant::now();
        let (site, out) = state
            .store
            .read_pull_checked(&self.hash.0, now, read(now))
            .await?;
        if let Some(site) = &site {
            state.pull_cache.remember_key(self.hash.0, site, sent);
        }
        let caller = self.admit(state, req, site, now).await?;
        Ok((caller, out?))
    }

    /// The caller of a key whose site is `site` (`None`: unknown, or rotated out), once the
    /// site's license, its pull quota and the request's origin allow it.
    async fn admit(
        &self,
        state: &AppState,
        req: &HttpRequest,
        site: Option<PullSite>,
        now: DateTime<Utc>,
    ) -> Result<PullCaller, AppError> {
        let Some(site) = site else {
            state.pull_cache.forget_key(&self.hash.0);
            return Err(AppError::new(
                ErrorCode::AuthInvalid,
                "the pull key is unknown, or was rotated out",
            ));
        };
        if !site.api_access {
            return Err(AppError::new(
                ErrorCode::LicenseRequired,
                "this site's license does not include API access",
            ));
        }
        // The site's pull quota (its plan's), shared by every key and instance.
        crate::extract::check_site_quota(state, site.site_id, site.plan, SiteApi::Pull).await?;
        // A cross-origin call from an origin the deployment does not allow everywhere:
        // the key's site may list it (cors.rs reads the mark).
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .filter(|o| !state.config.cors_origins.allows(o))
            .map(str::to_owned);
        if let Some(origin) = origin
            && state
                .store
                .site_lists_origin(Some(site.site_id), &origin)
                .await?
        {
            req.extensions_mut().insert(crate::cors::SiteOrigin);
        }
        Ok(PullCaller { site, now })
    }
}

impl FromRequest for PullCaller {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let key = PullKey::from_request(req, payload).into_inner();
        let req = req.clone();
        Box::pin(async move {
            let state = state
                .ok_or_else(|| AppError::new(ErrorCode::InternalError, "internal server error"))?;
            let key = key?;
            // Its own task, so that a failing sibling extractor never cancels the read (a
            // handler that takes `PullKey` and authenticates itself has no such sibling).
            let known = key.known(&state);
            actix_web::rt::spawn(async move { key.authenticate(&state, &req, known).await })
                .await
                .map_err(|_| AppError::new(ErrorCode::InternalError, "internal server error"))?
        })
    }
}
