//! `jekcms sites list|create|set`: the operator manages sites, their plans and licenses
//! from the command line, not the API (API.md §8). `--json` prints each site shaped as
//! `GET /api/v2/site` ([`SiteView`]); without it, a table or a line.
//!
//! A change is effective on the site's next request on every instance: the plan and the
//! license are read with the session on every request.

use crate::config::Config;
use crate::routes::site::SiteView;
use crate::state::StartError;
use clap::{Args, Subcommand, ValueEnum};
use jekcms_accounts::SiteDetails;
use jekcms_auth::Plan;
use jekcms_store::{SiteSettings, Store, StoreError, UniqueKey};

/// `sites` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum SitesCommand {
    /// List every site with its plan and license.
    List {
        /// Print a JSON array of site objects (as GET /api/v2/site).
        #[arg(long)]
        json: bool,
    },
    /// Create a site (with API access, on JEKCMS_DEFAULT_PLAN unless --plan).
    Create(CreateSite),
    /// Change a site's plan, license or name; effective on its next request.
    Set(SetSite),
}

/// `sites create` arguments.
#[derive(Debug, Clone, Args)]
pub struct CreateSite {
    /// The new site's slug.
    pub slug: String,
    /// Display name (default: the slug).
    #[arg(long)]
    pub name: Option<String>,
    /// starter, pro, agency or unlimited (default: JEKCMS_DEFAULT_PLAN).
    #[arg(long, value_parser = parse_plan)]
    pub plan: Option<Plan>,
    /// Print the site as a JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `sites set` arguments.
#[derive(Debug, Clone, Args)]
pub struct SetSite {
    /// The site's slug.
    pub slug: String,
    /// New plan: starter, pro, agency or unlimited.
    #[arg(long, value_parser = parse_plan)]
    pub plan: Option<Plan>,
    /// Grant (on) or withdraw (off) API access: without it every request is 402.
    #[arg(long, value_enum)]
    pub api_access: Option<OnOff>,
    /// New display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Print the site as a JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Granted.
    On,
    /// Withdrawn.
    Off,
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    s.parse()
        .map_err(|e: jekcms_auth::plan::UnknownPlan| e.to_string())
}

/// Runs a `sites` command and returns what to print on stdout.
pub async fn run(config: &Config, command: &SitesCommand) -> Result<String, StartError> {
    // Arguments first: a mistake is reported without touching the database.
    let name = |n: &Option<String>| {
        n.as_deref()
            .map(|n| jekcms_accounts::model::check_name("--name", n).map_err(StartError))
            .transpose()
    };
    match command {
        SitesCommand::List { json } => {
            let sites = connect(config).await?.list_sites().await.map_err(fail)?;
            let views: Vec<SiteView> = sites.into_iter().map(|s| view(config, s)).collect();
            Ok(if *json {
                serde_json::to_string(&views).expect("sites serialize")
            } else {
                table(&views)
            })
        }
        SitesCommand::Create(args) => {
            if !jekcms_content::slug::is_valid(&args.slug) {
                return Err(StartError(
                    "SLUG: expected a slug such as my-blog (lowercase letters and digits separated by hyphens)"
                        .into(),
                ));
            }
            let name = name(&args.name)?.unwrap_or_else(|| args.slug.clone());
            let plan = args.plan.unwrap_or(config.default_plan);
            let site = connect(config)
                .await?
                .create_site(&args.slug, &name, plan)
                .await
                .map_err(|e| match e {
                    StoreError::Unique(UniqueKey::SiteSlug) => {
                        StartError(format!("site {} already exists", args.slug))
                    }
                    other => fail(other),
                })?;
            Ok(print_one(config, site, args.json, "created"))
        }
        SitesCommand::Set(args) => {
            let settings = SiteSettings {
                plan: args.plan,
                api_access: args.api_access.map(|a| a == OnOff::On),
                name: name(&args.name)?,
            };
            if settings == SiteSettings::default() {
                return Err(StartError(
                    "nothing to change: pass --plan, --api-access or --name".into(),
                ));
            }
            let site = connect(config)
                .await?
                .set_site(&args.slug, settings)
                .await
                .map_err(|e| match e {
                    StoreError::NotFound => no_such_site(&args.slug),
                    other => fail(other),
                })?;
            // As a write through the API is: told done only once no instance still trusts
            // what it read of the site before (`JEKCMS_PULL_LEASE_MS`).
            tokio::time::sleep(config.pull_lease).await;
            Ok(print_one(config, site, args.json, "updated"))
        }
    }
}

async fn connect(config: &Config) -> Result<Store, StartError> {
    Store::connect(&config.database_url, config.store_options())
        .await
        .map_err(|e| StartError(format!("JEKCMS_DATABASE_URL: {e}")))
}

fn fail(e: StoreError) -> StartError {
    StartError(e.to_string())
}

fn no_such_site(slug: &str) -> StartError {
    StartError(format!(
        "no site with slug {slug} (jekcms sites list shows them)"
    ))
}

fn view(config: &Config, site: SiteDetails) -> SiteView {
    let quotas = config.plans.get(site.plan);
    SiteView::new(site, quotas)
}

fn print_one(config: &Config, site: SiteDetails, json: bool, done: &str) -> String {
    let v = view(config, site);
    if json {
        serde_json::to_string(&v).expect("a site serializes")
    } else {
        format!(
            "{done} site {} (id {}): plan {} ({}), API access {}, name {:?}",
            v.slug,
            v.id,
            v.plan,
            quotas(&v),
            on_off(v.api_access),
            v.name
        )
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn quotas(v: &SiteView) -> String {
    let one = |q: Option<crate::routes::site::QuotaView>| {
        q.map_or_else(
            || "no quota".to_owned(),
            |q| {
                let window = serde_json::to_value(q.window)
                    .ok()
                    .and_then(|w| w.as_str().map(str::to_owned))
                    .unwrap_or_default();
                format!("{}/{window}", q.limit)
            },
        )
    };
    format!(
        "management {}, pull {}",
        one(v.quotas.management),
        one(v.quotas.pull)
    )
}

/// One line per site under a header, columns aligned.
fn table(views: &[SiteView]) -> String {
    let rows: Vec<[String; 5]> =
        std::iter::once(["ID", "SLUG", "PLAN", "API", "NAME"].map(str::to_owned))
            .chain(views.iter().map(|v| {
                [
                    v.id.to_string(),
                    v.slug.clone(),
                    v.plan.to_owned(),
                    on_off(v.api_access).to_owned(),
                    v.name.clone(),
                ]
            }))
            .collect();
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let line: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            line.join("  ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
