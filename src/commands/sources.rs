//! `sources`: each configured source's state, as a table or JSON.

use std::io::Write;
use std::path::PathBuf;

use chrono::Utc;

use super::{ago, shorten};
use crate::config::load::Config;
use crate::store;

pub(super) fn sources(config: &Config, json: bool) -> anyhow::Result<i32> {
    let db: PathBuf = config.store.path.clone();
    let states = if db.exists() {
        store::open_existing(&db)?.source_states()?
    } else {
        Vec::new()
    };
    // A running daemon publishes what the database could not record (full disk, read-only).
    let live = crate::store::read_published_health(&db).unwrap_or_default();
    let now = Utc::now().timestamp();
    let mut out = std::io::stdout().lock();
    if !json {
        writeln!(
            out,
            "{:<20} {:<12} {:<9} {:<16} {:<16} {:>7} {:>7}  LAST ERROR",
            "SOURCE", "KIND", "STATE", "LAST SUCCESS", "NEXT POLL", "TODAY", "TOTAL"
        )?;
    }
    for s in &config.sources {
        let st = states
            .iter()
            .find(|x| x.source == s.name)
            .cloned()
            .unwrap_or_default();
        let mut st = st;
        let unrecorded = live.failing.get(&s.name);
        if let Some(e) = unrecorded {
            st.last_error = Some(format!("not recorded in the database: {e}"));
            st.last_error_at = Some(now);
            st.consecutive_failures = st.consecutive_failures.max(1);
        }
        // A failure the database could not record fails even a source that never polled.
        let state = if s.enabled && unrecorded.is_some() {
            "failing"
        } else {
            st.state_name(s.enabled)
        };
        if json {
            let mut v = serde_json::to_value(&st)?;
            v["source"] = s.name.clone().into();
            v["kind"] = s.kind.clone().into();
            v["state"] = state.into();
            v["interval_s"] = s.interval.as_secs().into();
            if let Some(u) = crate::sources::usage_note(s, st.cursor.as_deref()) {
                v["usage"] = u.into();
            }
            writeln!(out, "{v}")?;
            continue;
        }
        let err = st
            .last_error
            .as_ref()
            .map(|e| {
                format!(
                    "{} ({} failures, {})",
                    shorten(e, 80),
                    st.consecutive_failures,
                    ago(st.last_error_at, now)
                )
            })
            .unwrap_or_default();
        let cap = st
            .cap_note
            .as_ref()
            .map(|c| format!(" [{c}]"))
            .unwrap_or_default();
        let cap = match crate::sources::usage_note(s, st.cursor.as_deref()) {
            Some(u) => format!("{cap} [{u}]"),
            None => cap,
        };
        writeln!(
            out,
            "{:<20} {:<12} {:<9} {:<16} {:<16} {:>7} {:>7}  {err}{cap}",
            s.name,
            s.kind,
            state,
            ago(st.last_success_at, now),
            if s.enabled {
                ago(st.next_poll_at, now)
            } else {
                "-".into()
            },
            st.stored_today,
            st.items_stored
        )?;
    }
    if let Some(f) = &live.write_failure
        && !json
    {
        writeln!(out, "database: {f}")?;
    }
    Ok(0)
}
