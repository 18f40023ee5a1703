//! The `jekcms` command line: `serve` (default), `migrate`, `openapi`, `keys create`,
//! `sites list|create|set` (in [`crate::sites_cli`]), `backup`, `restore`.

use crate::config::Config;
use crate::state::StartError;
use clap::{Parser, Subcommand, ValueEnum};
use jekcms_accounts::KeyFamily;
use jekcms_auth::{Role, SecretHash};
use serde_json::json;
use std::process::ExitCode;

/// JekCMS: a headless CMS API server.
#[derive(Debug, Parser)]
#[command(name = "jekcms", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (the default).
    Serve,
    /// Run pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI 3.1 document.
    Openapi,
    /// Fill a site with the deterministic benchmark dataset.
    Seed {
        /// How many posts.
        #[arg(long, default_value_t = 100_000)]
        posts: usize,
        /// Slug of the site, created if missing; it must have no posts yet.
        #[arg(long, default_value = "default")]
        site: String,
    },
    /// Copy the SQLite database (a consistent snapshot, while servers keep serving), its
    /// media files and its key file into a new directory.
    Backup {
        /// The directory to write; it must be new or empty.
        #[arg(long, short)]
        output: std::path::PathBuf,
        /// Print the manifest as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Put a backup in place of the configured SQLite database and media directory (stop
    /// the servers using them first).
    Restore {
        /// A directory written by `jekcms backup`.
        input: std::path::PathBuf,
        /// Replace a database or media that are there already.
        #[arg(long)]
        force: bool,
    },
    /// Manage API keys.
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Manage sites: their plans and licenses (API access).
    Sites {
        /// What to do with sites.
        #[command(subcommand)]
        command: crate::sites_cli::SitesCommand,
    },
}

/// `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key for a user, creating the site and the user when missing (never a second
    /// owner of a site that has one).
    Create(CreateKey),
}

/// Key families the CLI can create.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Family {
    /// `api_` id + `sk_` secret for the REST API.
    Api,
    /// One `mcp_` token for the MCP endpoint.
    Mcp,
}

/// `keys create` arguments.
#[derive(Debug, clap::Args)]
pub struct CreateKey {
    /// Email of the user the key acts as.
    #[arg(long)]
    pub user: String,
    /// Role of the user if it has to be created (default: owner, for a site without one).
    /// For an existing user it must be the user's role: roles change through the API.
    #[arg(long)]
    pub role: Option<String>,
    /// Slug of the site, created if missing.
    #[arg(long, default_value = "default")]
    pub site: String,
    /// Key family.
    #[arg(long, value_enum, default_value = "api")]
    pub family: Family,
    /// A label for the key.
    #[arg(long, default_value = "cli")]
    pub name: String,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Creates a key as `jekcms keys create` does and returns what to print.
///
/// The site and the user are created when missing, but the command never silently takes
/// over a site: it adds no owner to a site that has one (a site made by open registration,
/// say), and a `--role` that differs from an existing user's role is refused rather than
/// ignored.
pub async fn create_key(config: &Config, args: &CreateKey) -> Result<String, StartError> {
    let role: Option<Role> = match &args.role {
        None => None,
        Some(r) => Some(r.parse().map_err(|_| {
            StartError("--role: expected viewer, author, editor, admin or owner".into())
        })?),
    };
    let email = args.user.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(StartError("--user: expected an email address".into()));
    }
    if !jekcms_content::slug::is_valid(&args.site) {
        return Err(StartError(
            "--site: expected a slug such as default or my-blog".into(),
        ));
    }
    let store = jekcms_store::Store::connect(&config.database_url, config.store_options())
        .await
        .map_err(|e| StartError(format!("JEKCMS_DATABASE_URL: {e}")))?;
    let site = store
        .ensure_site_on_plan(&args.site, &args.site, config.default_plan)
        .await
        .map_err(|e| StartError(e.to_string()))?;
    let fail = |e: jekcms_store::StoreError| StartError(e.to_string());
    let user = match store.find_user(site.id, &email).await.map_err(fail)? {
        Some(user) => {
            if let Some(role) = role.filter(|r| *r != user.role) {
                return Err(StartError(format!(
                    "--role: {email} is already {} of site {}, not {role}; change roles through \
                     the API (PATCH /api/v2/users/{}), or leave --role out",
                    user.role, site.slug, user.id
                )));
            }
            user
        }
        None => {
            let role = role.unwrap_or(Role::Owner);
            if role == Role::Owner && store.count_owners(site.id).await.map_err(fail)? > 0 {
                return Err(StartError(format!(
                    "--user: site {} already has an owner, and keys create adds none to a site \
                     that has one; pass --role with a lower role, --user with an owner's email, \
                     or ask an owner to add {email} (POST /api/v2/users)",
                    site.slug
                )));
            }
            let name = email.split('@').next().unwrap_or_default().to_owned();
            store
                .ensure_user(site.id, &email, &name, role)
                .await
                .map_err(|e| StartError(format!("--user: {e}")))?
        }
    };
    let family = match args.family {
        Family::Api => KeyFamily::Api,
        Family::Mcp => KeyFamily::Mcp,
    };
    let (public_id, secret) = jekcms_accounts::service::generate_key(family);
    let key = jekcms_accounts::AccountStore::create_key(
        &store,
        user.site_id,
        jekcms_accounts::model::NewApiKey {
            user_id: user.id,
            family,
            name: args.name.to_owned(),
            public_id: public_id.to_owned(),
            secret_hash: SecretHash::of(&secret),
            expires_at: None,
        },
    )
    .await
    .map_err(|e| StartError(e.to_string()))?;
    let out = match (args.family, args.json) {
        (Family::Api, true) => json!({
            "key_id": key.id, "api_key": public_id, "api_secret": secret,
            "user_id": user.id, "site_id": site.id, "family": "api",
        })
        .to_string(),
        (Family::Mcp, true) => json!({
            "key_id": key.id, "token": secret, "user_id": user.id, "site_id": site.id, "family": "mcp",
        })
        .to_string(),
        (Family::Api, false) => format!(
            "Created API key {} for {} ({}) on site {}.\napi_key:    {public_id}\napi_secret: {secret}\nThe secret is shown only now; store it safely.",
            key.id, email, user.role, site.slug
        ),
        (Family::Mcp, false) => format!(
            "Created MCP token {} for {} ({}) on site {}.\ntoken: {secret}\nThe token is shown only now; store it safely.",
            key.id, email, user.role, site.slug
        ),
    };
    Ok(out)
}

/// The `jekcms` program: parses the command line and runs the command.
///
/// The whole program lives here rather than in `main.rs` so that it is compiled once, with
/// the library: an `async` body awaited in the binary would be compiled again there (the
/// server's actix service tree, the store's futures), ~30 s of a cold release build.
pub fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("jekcms: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(Cli::parse()))
}

async fn run(cli: Cli) -> ExitCode {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        print!("{}", crate::openapi::document_json());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("jekcms: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&config.log, config.log_format);
    let result = match command {
        Command::Serve => crate::serve(config).await,
        Command::Migrate => {
            jekcms_store::Store::connect(&config.database_url, config.store_options())
                .await
                .map(|_| eprintln!("migrations are up to date"))
                .map_err(|e| StartError(format!("JEKCMS_DATABASE_URL: {e}")))
        }
        Command::Seed { posts, site } => seed(&config, &site, posts).await,
        Command::Backup { output, json } => {
            crate::backup::backup(&config, &output).await.map(|m| {
                if json {
                    println!(
                        "{}",
                        serde_json::to_string(&m).expect("the manifest serializes")
                    );
                }
                eprintln!(
                    "backed up {} posts and {} media files ({} bytes) to {}",
                    m.posts,
                    m.media_files,
                    m.media_bytes,
                    output.display()
                );
                if !m.missing_media.is_empty() {
                    eprintln!(
                        "{} media files were deleted while the backup ran and are not in it: {}",
                        m.missing_media.len(),
                        m.missing_media.join(", ")
                    );
                }
                if let Some(bucket) = &m.media_store {
                    eprintln!(
                        "the media stay in {bucket} and are not in the backup: back the bucket \
                         up with its versioning or replication (docs/operations.md)"
                    );
                }
                if m.key_file {
                    eprintln!("the backup holds the token key file: keep it as secret as the key");
                }
            })
        }
        Command::Restore { input, force } => crate::backup::restore(&config, &input, force)
            .await
            .map(|m| {
                eprintln!(
                    "restored {} posts and {} media files from {} (taken {})",
                    m.posts,
                    m.media_files,
                    input.display(),
                    m.created_at
                );
            }),
        Command::Keys {
            command: KeysCommand::Create(args),
        } => create_key(&config, &args)
            .await
            .map(|out| println!("{out}")),
        Command::Sites { command } => crate::sites_cli::run(&config, &command)
            .await
            .map(|out| println!("{out}")),
        Command::Openapi => unreachable!("handled above"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jekcms: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn seed(config: &Config, site: &str, posts: usize) -> Result<(), StartError> {
    let fail = |e: jekcms_store::StoreError| StartError(e.to_string());
    let store = jekcms_store::Store::connect(&config.database_url, config.store_options())
        .await
        .map_err(fail)?;
    let started = std::time::Instant::now();
    let n = crate::seed::seed(&store, site, posts).await.map_err(fail)?;
    eprintln!(
        "seeded {n} posts into site {site} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Logs go to stderr (stdout carries `listening on …` and `--json` output): text lines, or
/// with `JEKCMS_LOG_FORMAT=json` one JSON object per line with the event's fields at the top
/// level (`{"timestamp":…,"level":"INFO","target":"jekcms::access","request_id":…}`).
fn init_logging(filter: &str, format: crate::config::LogFormat) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let registry = tracing_subscriber::registry().with(log_filter(filter));
    let _ = match format {
        crate::config::LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_target(false),
            )
            .try_init(),
        crate::config::LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
    };
}

/// `JEKCMS_LOG`: a default level and `target=level` directives (`info,jekcms_store=debug`),
/// tracing-subscriber's `Targets`, which needs no regex engine. [`Config`] has refused any
/// other value already; `info` stands in should one get here anyway.
fn log_filter(filter: &str) -> tracing_subscriber::filter::Targets {
    crate::config::log_filter(filter).unwrap_or_else(|_| {
        tracing_subscriber::filter::Targets::new().with_default(tracing::Level::INFO)
    })
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn log_filter_takes_a_default_and_per_target_levels() {
        let f = log_filter("warn,jekcms=debug");
        assert!(f.would_enable("jekcms_store::posts", &Level::DEBUG));
        assert!(!f.would_enable("jekcms_store::posts", &Level::TRACE));
        assert!(f.would_enable("actix_server", &Level::WARN));
        assert!(!f.would_enable("actix_server", &Level::INFO));
    }

    #[test]
    fn a_bad_log_filter_falls_back_to_info() {
        let f = log_filter("jekcms=loud");
        assert!(f.would_enable("jekcms::access", &Level::INFO));
        assert!(!f.would_enable("jekcms::access", &Level::DEBUG));
    }
}
