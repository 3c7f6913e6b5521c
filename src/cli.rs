//! Command-line interface: one subcommand per user task.
//!
//! The doc comments below are the `--help` text a user reads, written as it prints: `<TAB>`,
//! `<platform>` and `[retention]` there are words for the terminal, not HTML or doc links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// webcare finds public mentions of your brand, flags complaints, questions and praise, and
/// tells the right people.
#[derive(Debug, Parser)]
#[command(name = "webcare", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML). Values can be overridden with WEBCARE__SECTION__KEY variables.
    #[arg(
        short,
        long,
        env = "WEBCARE_CONFIG",
        global = true,
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// Log format: human-readable lines, or one JSON object per line for log collectors.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines look. The level comes from `RUST_LOG` (default `info`).
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
    /// Straight to the systemd journal, each event's fields as journal fields (SOURCE=, ERROR=,
    /// …) for `journalctl -o verbose` and filters such as `journalctl SOURCE=forum`. Falls back
    /// to human lines on stderr when there is no journal.
    Journald,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: poll every source on its schedule until SIGINT/SIGTERM.
    Run,
    /// Poll every source once, store what is new, and exit (for cron and tests).
    /// Exits 75 when a source failed, so cron can tell.
    Once,
    /// Validate the configuration and print a summary; touches neither network nor database.
    CheckConfig,
    /// List or search stored mentions, newest first.
    Mentions(MentionsArgs),
    /// Show each source's state: last success, last error, next poll, mentions stored.
    Sources {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Take a consistent copy of the database while the daemon runs (SQLite's online backup).
    /// To restore, stop the daemon and put the copy in place of the database file.
    Backup {
        /// Where to write the copy; an existing file is not overwritten.
        file: PathBuf,
    },
    /// Classify texts from stdin (one per line, or JSON lines with "text" and optional "lang")
    /// and print one JSON verdict per line. Needs no config; with one, its `[classifier]`
    /// lexicons, thresholds and model are used, as the daemon uses them.
    Classify {
        /// Print the verdict and its reasons for people instead of JSON.
        #[arg(long)]
        explain: bool,
        #[command(flatten)]
        with: ClassifierArgs,
        /// Judge as the daemon does for this watch of the config: with its custom terms, and
        /// every watch's name read as the team's own brand.
        #[arg(long, value_name = "NAME")]
        watch: Option<String>,
    },
    /// Score the classifier on a labelled TSV file (columns lang, label, text): confusion
    /// matrix, precision, recall and F1 per class and language. Needs no config; with one, its
    /// `[classifier]` lexicons and model are used.
    Eval {
        /// The labelled file.
        file: PathBuf,
        #[command(flatten)]
        with: ClassifierArgs,
    },
    /// Train the classifier's learned layer on the team's corrections (from the database when
    /// a config is given) and labelled files, on top of the bundled model's examples, and
    /// print a cross-validated report on the team's examples: macro-F1 of the lexicons alone,
    /// with the bundled model and with the new model, per language and label. With a config the
    /// model is stored in the database and put in use unless it scores worse than the one in
    /// use (or, with none in use, than the bundled model).
    Train {
        /// A labelled TSV (lang<TAB>label<TAB>text) to train on as well; may be repeated.
        #[arg(long = "from", value_name = "FILE.tsv")]
        from: Vec<PathBuf>,
        /// Also write the model to this file (needed without a config).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Lexicon folder to use instead of the built-in one or the config's.
        #[arg(long, value_name = "DIR")]
        lexicons: Option<PathBuf>,
        /// Train on the corrections and files alone, without the bundled model's examples (as
        /// the bundled model itself is trained; `[classifier] bundled_model = false` does the
        /// same).
        #[arg(long)]
        no_bundled: bool,
    },
    /// Correct a mention's label; a staff correction wins over the classifier everywhere.
    /// With --export, print every correction as a TSV that `webcare eval` reads.
    Label {
        /// The mention's id (as shown by `webcare mentions`).
        #[arg(required_unless_present = "export")]
        id: Option<i64>,
        /// complaint, question, praise or neutral.
        #[arg(required_unless_present = "export")]
        label: Option<String>,
        /// Who made the correction, kept with it.
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
        /// Print all corrections as lang<TAB>label<TAB>text.
        #[arg(long, conflicts_with_all = ["id", "label"])]
        export: bool,
    },
    /// Show which routing rule a stored mention (or a text) matches, and why. Sends nothing.
    Route(RouteArgs),
    /// List alerts in the outbox: pending (waiting or retrying), sent, dead (given up), held
    /// (past a recipient's hourly cap).
    Outbox(OutboxArgs),
    /// Apply the [retention] ages now (the daemon does this daily): clear old raw payloads,
    /// strip old mentions of text and author, delete the oldest. Prints what went.
    Prune {
        /// Count what would go; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Erase one person's data (GDPR): their mentions, index entries, label corrections and
    /// alerts about them; their new posts are not stored. Prints what was removed.
    Forget {
        /// The person: <platform>:<handle>, e.g. mastodon:jan@social.example or
        /// "rss:Jan de Vries" (case-insensitive, leading @ optional).
        #[arg(long, value_name = "PLATFORM:HANDLE")]
        author: String,
        /// Count what would go; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Forget every person the name matches when several people share it.
        #[arg(long)]
        all: bool,
    },
    /// Print everything stored about one person as JSON (access request).
    Export {
        /// The person: <platform>:<handle>, as for `forget`.
        #[arg(long, value_name = "PLATFORM:HANDLE")]
        author: String,
    },
    /// Render the daily (or weekly) digest for a period, or send it now.
    Digest(DigestArgs),
    /// Mark a mention answered (the digest shows which complaints were), or --undo it.
    Answered {
        /// The mention's id (as shown by `webcare mentions`).
        id: i64,
        /// Remove the mark.
        #[arg(long)]
        undo: bool,
        /// Who answered, kept with the mark.
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
    },
    /// Replay stored mentions through the current routing rules and print how many alerts each
    /// rule would have sent per day. Sends and writes nothing.
    Backtest {
        /// How far back: a duration ("7d", "12h") or a date (2026-11-20).
        #[arg(long, default_value = "7d", value_name = "WHEN")]
        since: String,
    },
    /// Authors who asked not to be contacted: their alerts say DO NOT CONTACT; their mentions
    /// still count.
    Optout {
        /// add, remove or list.
        #[command(subcommand)]
        action: OptoutAction,
    },
    /// The classifier's trained models in the database: list them, or choose the one in use.
    Model {
        /// list, use ID or off.
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Web inbox users: `user add NAME` asks for a password and prints the line to put under
    /// [web.users] in the config. Needs no config.
    User {
        /// What to do.
        #[command(subcommand)]
        action: UserAction,
    },
}

/// What `webcare model` does.
#[derive(Debug, Subcommand)]
pub enum ModelAction {
    /// Every stored model with its cross-validated score; the one in use is marked.
    List,
    /// Put a stored model in use (also one refused as worse, to roll back); a running daemon
    /// follows within seconds.
    Use {
        /// The model's id, as `model list` shows it.
        id: i64,
    },
    /// Use no model: the lexicons decide alone until the next model is trained.
    Off,
}

/// What `webcare user` does.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Read a password from the terminal (twice, not echoed) and print `NAME = "<argon2 hash>"`.
    /// Without a terminal, the password is the first line of stdin.
    Add {
        /// The user name: letters, digits, '.', '_', '-' or '@'.
        name: String,
    },
}

/// What `webcare digest` renders or sends.
#[derive(Debug, clap::Args)]
pub struct DigestArgs {
    /// A day in the period to report on (YYYY-MM-DD, in the digest's time zone); default: the
    /// period of the latest scheduled digest.
    #[arg(long, value_name = "DATE")]
    pub date: Option<String>,
    /// Render without sending (the default): text on stdout, or HTML into --out.
    #[arg(long, conflicts_with = "send")]
    pub dry_run: bool,
    /// Queue and send it now to every recipient list, once per period.
    #[arg(long)]
    pub send: bool,
    /// With --send: send again even if this period's digest went out already.
    #[arg(long, requires = "send")]
    pub force: bool,
    /// Write the HTML version to this file instead of printing the text version.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// What `webcare optout` does.
#[derive(Debug, Subcommand)]
pub enum OptoutAction {
    /// Put an author on the list: PLATFORM:HANDLE, e.g. x:@klant123 (platform = source kind).
    Add {
        /// PLATFORM:HANDLE.
        author: String,
        /// Who added it, kept with it.
        #[arg(long, env = "USER", default_value = "staff")]
        by: String,
    },
    /// Take an author off the list.
    Remove {
        /// PLATFORM:HANDLE.
        author: String,
    },
    /// Print the list.
    List,
}

/// What `webcare route` looks at.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["id", "text"]))]
pub struct RouteArgs {
    /// A stored mention's id, as `webcare mentions` shows it (#123).
    pub id: Option<i64>,
    /// A text to classify and route as if it had just been found.
    #[arg(long)]
    pub text: Option<String>,
    /// With --text: the source it came from.
    #[arg(long, requires = "text")]
    pub source: Option<String>,
    /// With --text: its language (nl, en, da); detected when left out.
    #[arg(long, requires = "text")]
    pub lang: Option<String>,
    /// With --text: the author's followers.
    #[arg(long, requires = "text")]
    pub reach: Option<i64>,
    /// With --text: a review's star rating, 1 to 5.
    #[arg(long, requires = "text", value_parser = clap::value_parser!(u8).range(1..=5))]
    pub stars: Option<u8>,
}

/// Filters for `webcare outbox`.
#[derive(Debug, clap::Args)]
pub struct OutboxArgs {
    /// Only alerts in this state.
    #[arg(long, value_parser = ["pending", "sent", "dead", "held", "superseded"])]
    pub state: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// One JSON object per line; when more rows exist than --limit shows, a last line
    /// `{"truncated":true,...}` says so.
    #[arg(long)]
    pub json: bool,
    /// `retry`: put dead letters back in the queue.
    #[command(subcommand)]
    pub action: Option<OutboxAction>,
}

/// What `webcare outbox` can do besides listing.
#[derive(Debug, clap::Subcommand)]
pub enum OutboxAction {
    /// Put an alert (by its outbox id) or every dead letter back in the queue, due now, once
    /// the cause is fixed; the retry period starts again.
    Retry {
        /// The outbox id (`webcare outbox --state dead` lists them).
        #[arg(required_unless_present = "dead")]
        id: Option<i64>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "id")]
        dead: bool,
    },
}

/// Filters for `webcare mentions`.
/// What `classify` and `eval` classify with: the lexicons and the model.
#[derive(Debug, clap::Args)]
pub struct ClassifierArgs {
    /// Lexicon folder to use instead of the built-in one (a copy of config/lexicons), or
    /// instead of the config's `[classifier] lexicons`.
    #[arg(long, value_name = "DIR")]
    pub lexicons: Option<PathBuf>,
    /// A model trained with `webcare train --out FILE`, stacked on the lexicons. Without
    /// it, a given config's `[classifier] model` or the database's model in use, else the
    /// bundled model.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// The lexicons alone: no model file, none of the database's, not the bundled one (to
    /// see what an edit of the lexicons does).
    #[arg(long, conflicts_with = "model")]
    pub no_model: bool,
}

#[derive(Debug, clap::Args)]
pub struct MentionsArgs {
    /// Only mentions that matched this watch.
    #[arg(long)]
    pub watch: Option<String>,
    /// Only mentions from this source (its name in the config).
    #[arg(long)]
    pub source: Option<String>,
    /// Only mentions posted since then: a duration back from now ("7d", "12h") or a date (2026-11-20).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Only mentions with this label (complaint, question, praise, neutral).
    #[arg(long)]
    pub label: Option<String>,
    /// Full-text search over title and text ("quoted phrases", AND/OR/NOT, prefix*).
    #[arg(long, short)]
    pub query: Option<String>,
    /// Only reviews with this many stars: 4, or a range such as 1-2.
    #[arg(long, value_name = "N or N-M")]
    pub stars: Option<crate::store::StarRange>,
    /// At most this many.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}
