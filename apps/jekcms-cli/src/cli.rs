//! The command line, as clap parses it.

use crate::source::Format;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use jekcms_client::{PostFilter, PostSort, PostStatus};
use std::path::PathBuf;

/// Export and import JekCMS posts through the API v2.
#[derive(Debug, Parser)]
#[command(name = "jekcms-cli", version, about)]
pub struct Cli {
    /// Where the server is and how to sign in.
    #[command(flatten)]
    pub credentials: Credentials,
    /// No progress bar.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The server and the API key. The secret is never printed: clap is told not to show
/// environment values, and no message of this program contains it.
#[derive(Debug, Args)]
pub struct Credentials {
    /// Base URL of the server (a URL ending in `/api/v2` is taken too).
    #[arg(
        long,
        env = "JEKCMS_URL",
        // clap prints an unset variable as `JEKCMS_URL=`; the URL is shown by --url anyway.
        hide_env_values = true,
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// API key id (`api_…`).
    #[arg(long, env = "JEKCMS_API_KEY", hide_env_values = true, global = true)]
    pub api_key: Option<String>,
    /// API secret (`sk_…`); prefer the environment variable to the flag, which other users
    /// of the machine can see in the process list.
    #[arg(long, env = "JEKCMS_API_SECRET", hide_env_values = true, global = true)]
    pub api_secret: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write posts to JSON Lines, one post per line as the API returns it.
    Export(ExportArgs),
    /// Create posts from JSON Lines or a WordPress WXR file; safe to run again.
    Import(ImportArgs),
}

/// `export` arguments.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file to write (stdout when absent).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Continue the unfinished export of --output from its `.cursor` file.
    #[arg(long, requires = "output", conflicts_with = "resume_from")]
    pub resume: bool,
    /// Continue from this cursor (printed by an interrupted export), appending.
    #[arg(long, value_name = "CURSOR")]
    pub resume_from: Option<String>,
    /// Only posts in this state.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Only posts with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    /// Only posts by this user.
    #[arg(long)]
    pub author_id: Option<i64>,
    /// Only posts changed at or after this time (RFC 3339).
    #[arg(long)]
    pub updated_since: Option<DateTime<Utc>>,
    /// The order.
    #[arg(
        long,
        value_enum,
        default_value = "created_at",
        allow_hyphen_values = true
    )]
    pub sort: SortArg,
    /// Also write every medium to DIR: `media.jsonl` (the records) and `files/` (the
    /// bytes); `import --media DIR` brings them into another site.
    #[arg(long, value_name = "DIR")]
    pub with_media: Option<PathBuf>,
}

/// `import` arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to read (`-` reads standard input).
    pub input: PathBuf,
    /// Its format (when absent, told by the content; else `.xml`/`.wxr` are WXR, others
    /// JSON Lines).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// WXR: import WordPress pages too, as posts tagged `page`.
    #[arg(long)]
    pub pages: bool,
    /// WXR: publish password-protected posts (by default they are imported as drafts, since
    /// a JekCMS post has no password and would be readable by everyone).
    #[arg(long)]
    pub publish_protected: bool,
    /// Bring in the media of DIR (written by `export --with-media DIR`) and point the
    /// bodies' URLs of them at the new media; media the site has (same SHA-256) are reused.
    #[arg(long, value_name = "DIR")]
    pub media: Option<PathBuf>,
    /// WXR: do not fetch the attachments (by default each one's `wp:attachment_url` is
    /// fetched, uploaded, and the bodies' links to it rewritten).
    #[arg(long)]
    pub no_attachments: bool,
    /// WXR: create each post as the user of the site whose e-mail address is its WordPress
    /// author's (from the file's `<wp:author>`), or, failing that, whose name or e-mail
    /// address before the `@` is the author's login; posts of authors with no such user
    /// stay the importing user's (reported). Needs an admin or owner key (to read the
    /// site's users).
    #[arg(long)]
    pub map_authors: bool,
    /// Write each failed item (position, title, errors) as a JSON line to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Chunks of 100 posts in flight at once (1 creates the posts in input order; more may
    /// create the posts of different chunks out of order, faster).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub concurrency: u16,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `--status`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    /// Drafts.
    Draft,
    /// Published posts.
    Published,
    /// Archived posts.
    Archived,
}

/// `--sort`: the API's sort values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    /// Oldest first (the default here, so that an export reads like a history).
    #[value(name = "created_at")]
    CreatedAsc,
    /// Newest first.
    #[value(name = "-created_at")]
    CreatedDesc,
    /// Least recently changed first.
    #[value(name = "updated_at")]
    UpdatedAsc,
    /// Most recently changed first.
    #[value(name = "-updated_at")]
    UpdatedDesc,
    /// Earliest published first.
    #[value(name = "published_at")]
    PublishedAsc,
    /// Latest published first.
    #[value(name = "-published_at")]
    PublishedDesc,
    /// By title.
    #[value(name = "title")]
    TitleAsc,
    /// By title, reversed.
    #[value(name = "-title")]
    TitleDesc,
}

impl ExportArgs {
    /// The list filter these arguments describe.
    pub fn filter(&self) -> PostFilter {
        PostFilter {
            status: self.status.map(|s| match s {
                StatusArg::Draft => PostStatus::Draft,
                StatusArg::Published => PostStatus::Published,
                StatusArg::Archived => PostStatus::Archived,
            }),
            tag: self.tag.clone(),
            author_id: self.author_id,
            updated_since: self.updated_since,
            sort: Some(match self.sort {
                SortArg::CreatedAsc => PostSort::CreatedAsc,
                SortArg::CreatedDesc => PostSort::CreatedDesc,
                SortArg::UpdatedAsc => PostSort::UpdatedAsc,
                SortArg::UpdatedDesc => PostSort::UpdatedDesc,
                SortArg::PublishedAsc => PostSort::PublishedAsc,
                SortArg::PublishedDesc => PostSort::PublishedDesc,
                SortArg::TitleAsc => PostSort::TitleAsc,
                SortArg::TitleDesc => PostSort::TitleDesc,
            }),
            ..PostFilter::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn export_arguments_become_a_filter() {
        let cli = Cli::try_parse_from([
            "jekcms-cli",
            "export",
            "--sort",
            "-updated_at",
            "--status",
            "published",
            "--tag",
            "rust",
            "--updated-since",
            "2026-01-01T00:00:00Z",
        ])
        .unwrap();
        let Command::Export(args) = cli.command else {
            panic!("export expected")
        };
        let f = args.filter();
        assert_eq!(f.sort, Some(PostSort::UpdatedDesc));
        assert_eq!(f.status, Some(PostStatus::Published));
        assert_eq!(f.tag.as_deref(), Some("rust"));
        assert!(f.updated_since.is_some());
        assert!(Cli::try_parse_from(["jekcms-cli", "export", "--resume"]).is_err());
    }

    #[test]
    fn media_flags_are_read() {
        let cli = Cli::try_parse_from(["jekcms-cli", "export", "--with-media", "m"]).unwrap();
        let Command::Export(args) = cli.command else {
            panic!("export expected")
        };
        assert_eq!(args.with_media, Some(PathBuf::from("m")));
        let cli = Cli::try_parse_from([
            "jekcms-cli",
            "import",
            "posts.jsonl",
            "--media",
            "m",
            "--no-attachments",
        ])
        .unwrap();
        let Command::Import(args) = cli.command else {
            panic!("import expected")
        };
        assert_eq!(args.media, Some(PathBuf::from("m")));
        assert!(args.no_attachments);
        assert!(Cli::try_parse_from(["jekcms-cli", "export", "--with-media"]).is_err());
    }

    #[test]
    fn help_never_shows_the_secret() {
        let mut cmd = Cli::command();
        let help = cmd.render_long_help().to_string();
        assert!(help.contains("JEKCMS_API_SECRET"), "{help}");
        let err = Cli::try_parse_from([
            "jekcms-cli",
            "--api-secret",
            "sk_supersecret",
            "export",
            "--sort",
            "sideways",
        ])
        .unwrap_err()
        .to_string();
        assert!(!err.contains("sk_supersecret"), "{err}");
    }
}
