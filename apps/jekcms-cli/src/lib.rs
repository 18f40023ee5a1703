//! `jekcms-cli`: export JekCMS posts to JSON Lines and import them from JSON Lines or a
//! WordPress WXR file, through the API v2 with [`jekcms_client`].
//!
//! The work is done here, so that tests call it directly; `main.rs` only parses arguments
//! ([`cli`]), connects, and prints. [`export`] streams pages of 100 posts to a file or stdout,
//! resumable from a cursor; [`import`] reads [`source`]s ([`wxr`] for WordPress), gives each
//! post a deterministic [`slug`], and sends them in idempotent chunks of 100, so that a
//! re-run creates nothing twice. [`media`] writes the site's media beside an export, and
//! on import uploads them (or a WordPress export's attachments) once each, by SHA-256, and
//! points the bodies' links at them.
//!
//! This crate depends on `jekcms-client`, on `jekcms-slug` (the server's slug rules, a crate
//! without dependencies) and on no server-side crate of the workspace (those are
//! dev-dependencies for its tests only); `scripts/check-layers.sh` checks it.

pub mod cli;
pub mod error;
pub mod export;
pub mod import;
pub mod media;
mod progress;
pub mod slug;
pub mod source;
pub mod wxr;

pub use error::CliError;
pub use export::{ExportOptions, ExportSummary};
pub use import::{Failure, ImportOptions, ImportOutcome, ImportSummary, ReportEntry};
pub use progress::RateLimitWait;
pub use source::{Format, WxrOptions};
