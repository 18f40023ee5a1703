//! The caller's site (API.md §8): its plan, license, quotas, origins and pull key, and the
//! owner's change to its name and origins. Thin handlers over `jekcms_accounts::service`;
//! [`SiteView`] is also what `jekcms sites … --json` prints.

use crate::errors::AppError;
use crate::extract::{Caller, JsonBody};
use crate::respond;
use crate::schemas::{ErrorBody, envelopes};
use crate::state::AppState;
use actix_web::{HttpResponse, get, patch, web};
use chrono::{DateTime, Utc};
use jekcms_accounts::SiteDetails;
use jekcms_accounts::service;
use jekcms_accounts::site::{PullKeySummary, SitePatch};
use jekcms_ratelimit::{Quota, SiteQuotas};
use serde::Serialize;
use utoipa::ToSchema;

/// A site as its users and the operator see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(examples(json!({
    "id": 1,
    "slug": "my-blog",
    "name": "My blog",
    "plan": "starter",
    "api_access": true,
    "cors_origins": ["https://www.example.com", "http://localhost:3000"],
    "created_at": "2026-12-04T09:30:00Z",
    "quotas": {
        "management": {"limit": 100, "window": "hour"},
        "pull": {"limit": 500, "window": "hour"}
    },
    "pull_key": {"key_id": 3, "created_at": "2026-12-04T10:00:00Z"}
})))]
pub struct SiteView {
    /// Id.
    pub id: i64,
    /// Unique slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// `starter`, `pro`, `agency` or `unlimited`: sets `quotas`. Changed by the operator
    /// (`jekcms sites set`), not through the API.
    #[schema(example = "starter")]
    pub plan: &'static str,
    /// The license: when false, every authenticated request is `402 LICENSE_REQUIRED`.
    pub api_access: bool,
    /// Origins whose browsers may call the API, as `scheme://host[:port]`, sorted.
    pub cors_origins: Vec<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// The per-site quotas of the plan, on top of each credential's own.
    pub quotas: SiteQuotasView,
    /// The active pull key (never the key itself); null before the first rotation.
    pub pull_key: Option<PullKeySummary>,
}

/// The per-site quotas: null is none.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct SiteQuotasView {
    /// Management API requests of the site, over all its credentials.
    pub management: Option<QuotaView>,
    /// Pull API requests of the site.
    pub pull: Option<QuotaView>,
}

/// A quota: `limit` requests per `window`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct QuotaView {
    /// Requests per window.
    #[schema(example = 100)]
    pub limit: u32,
    /// `second`, `minute` or `hour` (another length as `N seconds`).
    #[schema(value_type = String, example = "hour")]
    pub window: WindowName,
}

/// A quota's window as a word (serialised as a string).
#[derive(Debug, Clone, Copy)]
pub struct WindowName(Quota);

impl Serialize for WindowName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.window())
    }
}

impl SiteView {
    /// The site with the quotas of its plan.
    pub fn new(site: SiteDetails, quotas: SiteQuotas) -> Self {
        let view = |q: Option<Quota>| {
            q.map(|q| QuotaView {
                limit: q.requests.get(),
                window: WindowName(q),
            })
        };
        Self {
            id: site.id,
            slug: site.slug,
            name: site.name,
            plan: site.plan.as_str(),
            api_access: site.api_access,
            cors_origins: site.cors_origins,
            created_at: site.created_at,
            quotas: SiteQuotasView {
                management: view(quotas.management),
                pull: view(quotas.pull),
            },
            pull_key: site.pull_key,
        }
    }
}

/// `PATCH /site` body (documentation; parsing reports every bad field).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "name": "My blog",
    "cors_origins": ["https://www.example.com", "http://localhost:3000"]
})))]
#[allow(dead_code)]
pub struct UpdateSiteBody {
    /// Display name, 1–100 characters after trimming, no control characters.
    #[schema(nullable = false, min_length = 1, max_length = 100)]
    name: Option<String>,
    /// The whole new set of origins (replacing the old), at most 50 distinct, each
    /// `scheme://host[:port]` with scheme `http` or `https`, without a path, query, user or
    /// trailing slash; `*` is not allowed here. Stored as browsers send `Origin`: lower case,
    /// without the scheme's default port.
    #[schema(nullable = false, max_items = 50)]
    cors_origins: Option<Vec<String>>,
}

envelopes! {
    /// A success envelope around a site.
    SiteEnvelope(SiteView);
}

/// Gets your site.
///
/// Any role. With the per-site quotas of its plan and its pull key's id (never the key).
#[utoipa::path(tag = "site", security(("bearer" = [])), responses(
    (status = 200, description = "Your site", body = SiteEnvelope),
    (status = 401, description = "Not authenticated", body = ErrorBody),
))]
#[get("/api/v2/site")]
pub async fn get_site(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let site = service::get_site(&state.store, &caller.actor()).await?;
    let quotas = state.site_quotas(site.plan);
    Ok(respond::ok(SiteView::new(site, quotas)))
}

/// Changes your site.
///
/// Owners only: the name and the origins (`cors_origins`, replaced as a whole). The plan and
/// the license are the operator's (`jekcms sites set`); any other field is `422` naming it.
#[utoipa::path(tag = "site", security(("bearer" = [])), request_body = UpdateSiteBody, responses(
    (status = 200, description = "Your site as it now is", body = SiteEnvelope),
    (status = 401, description = "Not authenticated", body = ErrorBody),
    (status = 403, description = "Only owners change the site", body = ErrorBody),
    (status = 422, description = "An unknown field, a bad name or origin, `*`, or more than 50 origins", body = ErrorBody),
))]
#[patch("/api/v2/site")]
pub async fn update_site(
    caller: Caller,
    state: web::Data<AppState>,
    body: JsonBody,
) -> Result<HttpResponse, AppError> {
    let patch = SitePatch::parse(&body.0)?;
    crate::context::mark_write();
    let site = service::update_site(&state.store, &caller.actor(), patch).await?;
    let quotas = state.site_quotas(site.plan);
    Ok(respond::ok(SiteView::new(site, quotas)))
}
