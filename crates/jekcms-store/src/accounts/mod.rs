//! Sites, users, API keys and deployment settings, by concern:
//!
//! - `repo`: [`AccountStore`](jekcms_accounts::AccountStore) for both stores, each method one
//!   atomic step (the "last owner" rule included).
//! - `rows`: the columns read and written, and how a row becomes a [`User`](jekcms_accounts::User)
//!   or an [`ApiKey`](jekcms_accounts::ApiKey).
//! - `operator`: what the `jekcms` command needs outside the API (settings, a site and user by
//!   slug and email, a site's license, a role).
//! - `sites`: a site's settings (plan, license, origins, pull key) for the API and for
//!   `jekcms sites`.
//! - `bulk_load`: the page cache of the SQLite writer and the statistics of PostgreSQL around
//!   `jekcms seed`.

mod bulk_load;
mod operator;
mod repo;
mod rows;
mod sites;

pub use operator::{SiteRecord, UserRecord};
pub use sites::SiteSettings;
