//! The `[admin]` section: where the admin endpoints listen and when health turns degraded.
//! Apart from the server, so the whole config can read it without depending on the server,
//! which itself runs on the whole config.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::connections::Limits;
use crate::config::{ConfigErrors, DurationValue, parse_at};

/// `[admin]`: where the admin endpoints listen and when health turns degraded.
#[derive(Debug, Clone, PartialEq)]
pub struct AdminConfig {
    /// Whether `webcare run` starts the admin server.
    pub enabled: bool,
    /// Address and port to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Whether a non-loopback `listen` is allowed.
    pub allow_remote: bool,
    /// A source failing for longer than this makes `/healthz` degraded.
    pub source_failing_after: Duration,
    /// An alert due for longer than this makes `/healthz` degraded.
    pub outbox_backlog_after: Duration,
    /// Bounds on the connections the admin server holds (`max_connections`,
    /// `header_read_timeout`, `idle_timeout`).
    pub limits: Limits,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9187)),
            allow_remote: false,
            source_failing_after: Duration::from_secs(30 * 60),
            outbox_backlog_after: Duration::from_secs(15 * 60),
            limits: Limits {
                max_connections: 256,
                header_read_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
            },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAdminConfig {
    enabled: Option<bool>,
    listen: Option<String>,
    #[serde(default)]
    allow_remote: bool,
    source_failing_after: Option<DurationValue>,
    outbox_backlog_after: Option<DurationValue>,
    max_connections: Option<usize>,
    header_read_timeout: Option<DurationValue>,
    idle_timeout: Option<DurationValue>,
}

/// Reads and checks the `[admin]` section (`None` when absent), recording problems under
/// `admin.*`. A listen address off the loopback interface is refused unless `allow_remote`.
pub fn parse_config(value: Option<Value>, errors: &mut ConfigErrors) -> AdminConfig {
    let defaults = AdminConfig::default();
    let Some(raw) = value.and_then(|v| parse_at::<RawAdminConfig>(v, "admin", errors)) else {
        return defaults;
    };
    let listen = match raw.listen.as_deref().map(str::trim) {
        None => defaults.listen,
        Some(text) => match text.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                errors.push(
                    "admin.listen",
                    format!(
                        "\"{text}\" is not an address and port; use e.g. \"127.0.0.1:9187\" or \"[::1]:9187\""
                    ),
                );
                defaults.listen
            }
        },
    };
    if !listen.ip().is_loopback() && !raw.allow_remote {
        errors.push(
            "admin.listen",
            format!(
                "{listen} is reachable from other machines and the admin endpoints have no authentication; \
                 listen on 127.0.0.1, or set admin.allow_remote = true to expose them on purpose"
            ),
        );
    }
    let limits = Limits {
        max_connections: raw
            .max_connections
            .unwrap_or(defaults.limits.max_connections),
        header_read_timeout: raw
            .header_read_timeout
            .map_or(defaults.limits.header_read_timeout, |d| d.0),
        idle_timeout: raw
            .idle_timeout
            .map_or(defaults.limits.idle_timeout, |d| d.0),
    };
    if limits.max_connections == 0 {
        errors.push("admin.max_connections", "must be at least 1 (default 256)");
    }
    for (key, d) in [
        ("admin.header_read_timeout", limits.header_read_timeout),
        ("admin.idle_timeout", limits.idle_timeout),
    ] {
        if d.is_zero() {
            errors.push(key, "must be longer than 0s, e.g. \"10s\"");
        }
    }
    AdminConfig {
        limits,
        enabled: raw.enabled.unwrap_or(defaults.enabled),
        listen,
        allow_remote: raw.allow_remote,
        source_failing_after: raw
            .source_failing_after
            .map_or(defaults.source_failing_after, |d| d.0),
        outbox_backlog_after: raw
            .outbox_backlog_after
            .map_or(defaults.outbox_backlog_after, |d| d.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> (AdminConfig, ConfigErrors) {
        let v: Value = toml::from_str(toml_text).unwrap();
        let mut errors = ConfigErrors::default();
        let c = parse_config(v.get("admin").cloned(), &mut errors);
        (c, errors)
    }

    #[test]
    fn defaults_listen_on_loopback_only() {
        let (c, errors) = parse("");
        assert!(errors.is_empty());
        assert_eq!(c, AdminConfig::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:9187");
    }

    #[test]
    fn a_remote_address_needs_allow_remote() {
        let (_, errors) = parse("[admin]\nlisten = \"0.0.0.0:9187\"\n");
        assert_eq!(errors.problems.len(), 1);
        assert_eq!(errors.problems[0].0, "admin.listen");
        assert!(errors.problems[0].1.contains("admin.allow_remote = true"));
        let (c, errors) = parse("[admin]\nlisten = \"0.0.0.0:9187\"\nallow_remote = true\n");
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(c.listen.port(), 9187);
    }

    #[test]
    fn a_bad_address_or_duration_is_named() {
        let (_, errors) = parse("[admin]\nlisten = \"localhost\"\n");
        assert_eq!(errors.problems[0].0, "admin.listen");
        let (_, errors) = parse("[admin]\nsource_failing_after = \"soon\"\n");
        assert_eq!(errors.problems[0].0, "admin.source_failing_after");
        let (_, errors) = parse("[admin]\nport = 1\n");
        assert!(errors.problems[0].1.contains("port"), "{errors}");
    }
}
