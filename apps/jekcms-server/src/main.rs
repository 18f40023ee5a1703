//! `jekcms`: see `jekcms --help`.

use clap::Parser;
use jekcms_server::cli::{Cli, Command, KeysCommand};
use jekcms_server::config::Config;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        print!("{}", jekcms_server::openapi::document_json());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("jekcms: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&config.log);
    let result = match command {
        Command::Serve => jekcms_server::serve(config).await,
        Command::Migrate => jekcms_store::Store::connect(&config.database_url, Default::default())
            .await
            .map(|_| eprintln!("migrations are up to date"))
            .map_err(|e| jekcms_server::state::StartError(format!("JEKCMS_DATABASE_URL: {e}"))),
        Command::Seed { posts, site } => seed(&config, &site, posts).await,
        Command::Keys {
            command: KeysCommand::Create(args),
        } => jekcms_server::cli::create_key(&config, &args)
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

async fn seed(
    config: &Config,
    site: &str,
    posts: usize,
) -> Result<(), jekcms_server::state::StartError> {
    let fail = |e: jekcms_store::StoreError| jekcms_server::state::StartError(e.to_string());
    let store = jekcms_store::Store::connect(&config.database_url, Default::default())
        .await
        .map_err(fail)?;
    let started = std::time::Instant::now();
    let n = jekcms_server::seed::seed(&store, site, posts)
        .await
        .map_err(fail)?;
    eprintln!(
        "seeded {n} posts into site {site} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Logs go to stderr (stdout carries `listening on …` and `--json` output).
fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
