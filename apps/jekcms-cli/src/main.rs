//! The `jekcms-cli` binary: parses arguments, connects, runs a command of the library,
//! prints its summary. Exit status: 0 done; 1 error; 2 bad arguments; 3 an import finished
//! with failed or unsent items; 130 interrupted.

use clap::Parser;
use jekcms_cli::cli::{Cli, Command, Credentials};
use jekcms_cli::{
    CliError, ExportOptions, ImportOptions, RateLimitWait, WxrOptions, export, import,
};
use jekcms_client::Client;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let interrupt = Arc::new(AtomicBool::new(false));
    {
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: finishing the work in flight (Ctrl-C again to quit now)");
                interrupt.store(true, Ordering::SeqCst);
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    }
    match run(cli, interrupt).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn connect(credentials: Credentials, wait: &RateLimitWait) -> Result<Client, CliError> {
    let missing =
        |what: &str, var: &str| CliError::Input(format!("no {what}: pass --{what} or set {var}"));
    let key = credentials
        .api_key
        .ok_or_else(|| missing("api-key", "JEKCMS_API_KEY"))?;
    let secret = credentials
        .api_secret
        .ok_or_else(|| missing("api-secret", "JEKCMS_API_SECRET"))?;
    let wait = wait.clone();
    let client = Client::builder(credentials.url, key, secret)
        .user_agent(concat!("jekcms-cli/", env!("CARGO_PKG_VERSION")))
        .on_rate_limit_wait(move |w| wait.started(w))
        .connect()
        .await?;
    Ok(client)
}

async fn run(cli: Cli, interrupt: Arc<AtomicBool>) -> Result<ExitCode, CliError> {
    let rate_limit_wait = RateLimitWait::default();
    let client = connect(cli.credentials, &rate_limit_wait).await?;
    match cli.command {
        Command::Export(args) => {
            let opts = ExportOptions {
                filter: args.filter(),
                output: args.output.clone(),
                resume: args.resume,
                resume_from: args.resume_from.clone(),
                progress: !cli.quiet,
                rate_limit_wait,
                interrupt,
                stop_after_pages: None,
                with_media: args.with_media.clone(),
            };
            let summary = export::run(&client, &opts).await?;
            let secs = summary.elapsed_ms as f64 / 1000.0;
            let rate = summary.exported as f64 / secs.max(0.001);
            match &summary.next_cursor {
                None => {
                    eprintln!(
                        "exported {} posts in {secs:.2} s ({rate:.0} posts/s)",
                        summary.exported
                    );
                    if let (Some(m), Some(dir)) = (&summary.media, &opts.with_media) {
                        eprintln!(
                            "and {} media ({} downloaded now, {:.1} MB) to {}",
                            m.media,
                            m.downloaded,
                            m.bytes as f64 / 1_048_576.0,
                            dir.display()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Some(cursor) => {
                    eprintln!(
                        "stopped after {} posts; continue with --resume-from {cursor}{}",
                        summary.exported,
                        if opts.output.is_some() {
                            " (or --resume)"
                        } else {
                            ""
                        }
                    );
                    Ok(ExitCode::from(130))
                }
            }
        }
        Command::Import(args) => {
            let opts = ImportOptions {
                input: args.input,
                format: args.format,
                wxr: WxrOptions {
                    pages: args.pages,
                    publish_protected: args.publish_protected,
                },
                report: args.report.clone(),
                media: args.media.clone(),
                fetch_attachments: !args.no_attachments,
                map_authors: args.map_authors,
                concurrency: usize::from(args.concurrency),
                progress: !cli.quiet,
                rate_limit_wait,
                interrupt: interrupt.clone(),
                stop_after_chunks: None,
            };
            let outcome = import::run(&client, &opts).await?;
            let s = &outcome.summary;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(s).expect("the summary serializes")
                );
            }
            eprintln!("{s}");
            if let Some(report) = &args.report
                && !(outcome.failures.is_empty()
                    && outcome.changed.is_empty()
                    && outcome.media_failures.is_empty()
                    && outcome.authors_kept.is_empty())
            {
                eprintln!("failures and changes written to {}", report.display());
            } else if args.report.is_none() && s.changed > 0 {
                eprintln!("(--report FILE lists each change)");
            }
            Ok(if interrupt.load(Ordering::SeqCst) {
                ExitCode::from(130)
            } else if s.failed > 0 || s.not_sent > 0 || s.media.failed > 0 {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
