//! `check-config`: says what a valid configuration will do, without touching the network or
//! the database.

use std::io::Write;

use crate::config::load::Config;

pub(super) fn check_config(config: &Config) -> anyhow::Result<i32> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "configuration {} is valid", config.file.display())?;
    writeln!(out, "database: {}", config.store.path.display())?;
    if config.admin.enabled {
        writeln!(
            out,
            "admin: http://{} (/healthz /readyz /metrics)",
            config.admin.listen
        )?;
    } else {
        writeln!(out, "admin: disabled")?;
    }
    if let Some(web) = &config.web {
        writeln!(
            out,
            "web inbox: {}/ on {} ({} users{})",
            web.base_url,
            web.listen,
            web.users.len(),
            web.trusted_header
                .as_ref()
                .map(|h| format!(", or {h} from {} proxies", web.trusted_proxies.len()))
                .unwrap_or_default()
        )?;
    }
    writeln!(out, "watches ({}):", config.watches.len())?;
    for w in &config.watches {
        let langs = if w.languages.is_empty() {
            "all languages".to_string()
        } else {
            w.languages.join(", ")
        };
        let cap = w
            .daily_cap
            .map(|c| format!(", daily cap {c}"))
            .unwrap_or_default();
        writeln!(out, "  {:<20} {}  [{langs}{cap}]", w.name, w.query)?;
    }
    writeln!(out, "sources ({}):", config.sources.len())?;
    for s in &config.sources {
        let state = if s.enabled { "" } else { " (disabled)" };
        let owned = s
            .watch
            .as_ref()
            .map(|w| format!(", owned channel of {w}"))
            .unwrap_or_default();
        writeln!(
            out,
            "  {:<20} {:<12} every {}{owned}{state}",
            s.name,
            s.kind,
            humantime::format_duration(s.interval)
        )?;
        for line in crate::sources::describe(s, &config.http.user_agent) {
            writeln!(out, "  {:<20} {line}", "")?;
        }
    }
    let teams = &config.notify.teams;
    if teams.is_empty() {
        writeln!(
            out,
            "recipients: none configured (alerts and digests are not sent)"
        )?;
    } else {
        writeln!(out, "teams ({}):", teams.len())?;
        for t in teams {
            writeln!(out, "  {:<20} {}", t.name, t.emails.join(", "))?;
        }
        writeln!(
            out,
            "routes: {} configured, then the default (complaints and questions to {})",
            config.notify.routes.len(),
            teams[0].name
        )?;
    }
    Ok(0)
}
