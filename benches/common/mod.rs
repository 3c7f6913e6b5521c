//! What the benches that run the whole daemon share: the SMTP inbox of the end-to-end tests
//! (included from `tests/common/inbox.rs`, so there is one), a config that mails every alert
//! from a local feed file at once, and starting and stopping `webcare run` on it.
#![allow(dead_code)]

#[path = "../../tests/common/inbox.rs"]
pub mod inbox;

use std::path::Path;
use std::process::{Child, Command};

/// The variable `name` as a number, or `default` when it is unset or not a number.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes `contents` to a temporary file beside `path` and renames it over `path`, so the
/// daemon never reads half a feed.
pub fn replace_file(path: &Path, contents: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Writes a config in `dir` (database beside it) that polls the RSS file `feed` every second
/// and mails each alert at once to 127.0.0.1:`smtp_port`, then starts `webcare run` on it.
pub fn start_alerting_daemon(dir: &Path, smtp_port: u16, feed: &Path) -> Child {
    let config = dir.join("webcare.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n\
             [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\nhost = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\nbatch_window = \"0s\"\n\n\
             [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n\n\
             [[watches]]\nname = \"Fjordlink\"\nquery = \"fjordlink\"\n\n\
             [[sources]]\nname = \"feed\"\nkind = \"rss\"\nurl = \"file://{}\"\ninterval = \"1s\"\njitter = 0.0\nbackfill = \"3650d\"\n",
            dir.join("webcare.db").display(),
            feed.display()
        ),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_webcare"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("start webcare")
}

/// Stops the daemon the way systemd would (SIGTERM) and reaps it.
pub fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}
