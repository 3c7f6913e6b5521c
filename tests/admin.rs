//! The admin endpoints of a running daemon: `/healthz` turning degraded when a source keeps
//! failing, `/readyz`, and `/metrics` checked by a strict Prometheus text-format parser.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Duration;

use common::http::get;
use common::{
    FeedServer, Reply, Setup, TermOnDrop, assert_said, atom, fjordlink_entries, free_port, text,
    wait_for,
};

const BAD: &str = r#"bad "feed" \ 2"#;

fn sources(server: &FeedServer) -> String {
    format!(
        "[[sources]]\nname = \"good\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1s\"\njitter = 0.0\nbackfill = \"3650d\"\n\n\
         [[sources]]\nname = 'bad \"feed\" \\ 2'\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1s\"\njitter = 0.0\n",
        server.url("good.xml"),
        server.url("bad.xml"),
    )
}

fn start(setup: &Setup) -> TermOnDrop {
    TermOnDrop(setup.daemon().spawn().unwrap())
}

#[test]
fn healthz_turns_degraded_naming_the_source_that_keeps_failing() {
    let server = FeedServer::start();
    server.set("good.xml", Reply::Feed(atom(&fjordlink_entries("g", 3))));
    server.set(
        "bad.xml",
        Reply::Status(500, vec![], "internal error".into()),
    );
    let port = free_port();
    let setup = Setup::with_admin(
        &sources(&server),
        &format!("listen = \"127.0.0.1:{port}\"\nsource_failing_after = \"1s\""),
    );
    let _daemon = start(&setup);

    // The admin port answers "starting" until every stage is up.
    let ready = wait_for("/readyz", Duration::from_secs(20), || {
        get(port, "/readyz").filter(|a| a.body != "starting\n")
    });
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert_eq!(ready.body, "ready\n");

    let health = wait_for("/healthz to turn degraded", Duration::from_secs(20), || {
        get(port, "/healthz").filter(|a| a.status == 503)
    });
    let mut lines = health.body.lines();
    assert_eq!(lines.next(), Some("degraded"), "{}", health.body);
    let reasons: Vec<&str> = lines.collect();
    assert_eq!(reasons.len(), 1, "{}", health.body);
    assert!(
        reasons[0].starts_with(r#"source "bad \"feed\" \\ 2" has been failing for "#),
        "{}",
        reasons[0]
    );
    assert!(reasons[0].contains("500"), "{}", reasons[0]);
    assert!(!health.body.contains("\"good\""), "{}", health.body);

    let json = get(port, "/healthz?format=json").unwrap();
    assert_eq!(json.status, 503);
    assert_eq!(json.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(v["status"], "degraded");
    assert_eq!(v["reasons"].as_array().unwrap().len(), 1, "{}", json.body);
    assert_eq!(v["reasons"][0], reasons[0], "the same reason as in text");
}

#[test]
fn a_reload_that_removes_the_failing_source_makes_healthz_ok_again() {
    let server = FeedServer::start();
    server.set("good.xml", Reply::Feed(atom(&fjordlink_entries("g", 1))));
    server.set("bad.xml", Reply::Status(500, vec![], "no".into()));
    let port = free_port();
    let admin = format!("listen = \"127.0.0.1:{port}\"\nsource_failing_after = \"1s\"");
    let setup = Setup::with_admin(&sources(&server), &admin);
    let daemon = start(&setup);
    wait_for("degraded", Duration::from_secs(20), || {
        get(port, "/healthz").filter(|a| a.status == 503)
    });

    let only_good = Setup::with_admin(&server.rss_sources(&["good"]), &admin);
    let new_config = std::fs::read_to_string(&only_good.config).unwrap().replace(
        &only_good.db().display().to_string(),
        &setup.db().display().to_string(),
    );
    std::fs::write(&setup.config, new_config).unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &daemon.0.id().to_string()])
        .status()
        .unwrap();
    let health = wait_for("ok after the reload", Duration::from_secs(20), || {
        get(port, "/healthz").filter(|a| a.status == 200)
    });
    assert_eq!(health.body, "ok\n");
}

#[test]
fn healthz_is_ok_while_every_source_succeeds() {
    let server = FeedServer::start();
    server.publish_fjordlink(&["good"], 2);
    let port = free_port();
    let setup = Setup::with_admin(
        &server.rss_sources(&["good"]),
        &format!("listen = \"127.0.0.1:{port}\"\nsource_failing_after = \"1s\""),
    );
    let _daemon = start(&setup);
    wait_for("two polls", Duration::from_secs(20), || {
        (server.hits("good.xml").len() >= 2).then_some(())
    });
    let health = get(port, "/healthz").unwrap();
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    let json = get(port, "/healthz?format=json").unwrap();
    assert_eq!(json.body, r#"{"reasons":[],"status":"ok"}"#);
}

#[test]
fn metrics_are_valid_prometheus_text_with_the_stored_mentions() {
    let server = FeedServer::start();
    server.set("good.xml", Reply::Feed(atom(&fjordlink_entries("g", 3))));
    server.set("bad.xml", Reply::Status(503, vec![], "down".into()));
    let port = free_port();
    let setup = Setup::with_admin(&sources(&server), &format!("listen = \"127.0.0.1:{port}\""));
    let _daemon = start(&setup);

    // Wait until both sources have been polled and the good one's mentions are in.
    let (answer, families) = wait_for("metrics of both sources", Duration::from_secs(20), || {
        let a = get(port, "/metrics")?;
        let f = parse_exposition(&a.body).unwrap_or_else(|e| panic!("{e}\n{}", a.body));
        let stored: f64 = f
            .get("webcare_mentions_stored")?
            .samples
            .iter()
            .filter(|s| s.labels["source"] == "good")
            .map(|s| s.value)
            .sum();
        let bad_errors = f
            .get("webcare_poll_errors_total")?
            .value(&[("source", BAD)]);
        (stored == 3.0 && bad_errors.is_some_and(|n| n >= 1.0)).then_some((a, f))
    });
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );

    // Mentions per label and language are exactly what the database holds.
    let conn = rusqlite::Connection::open(setup.db()).unwrap();
    let mut st = conn
        .prepare("SELECT coalesce(label, 'unclassified'), coalesce(lang, 'unknown'), count(*) FROM mentions WHERE source = 'good' GROUP BY 1, 2")
        .unwrap();
    let in_db: Vec<(String, String, i64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!in_db.is_empty());
    let stored = &families["webcare_mentions_stored"];
    assert_eq!(stored.kind, "gauge");
    for (label, lang, n) in &in_db {
        assert_eq!(
            stored.value(&[("source", "good"), ("label", label), ("lang", lang)]),
            Some(*n as f64),
            "{label}/{lang}"
        );
    }

    let polls = &families["webcare_polls_total"];
    assert_eq!(polls.kind, "counter");
    let good_polls = polls.value(&[("source", "good")]).unwrap();
    assert!(good_polls >= 1.0);
    assert_eq!(
        families["webcare_poll_errors_total"].value(&[("source", "good")]),
        Some(0.0)
    );
    assert_eq!(
        families["webcare_source_up"].value(&[("source", "good")]),
        Some(1.0)
    );
    assert_eq!(
        families["webcare_source_up"].value(&[("source", BAD)]),
        Some(0.0)
    );
    // Every supervised task is listed from the start, none restarted.
    let restarts = &families["webcare_task_restarts_total"];
    assert_eq!(restarts.kind, "counter");
    assert_eq!(restarts.value(&[("task", "wal-checkpoint")]), Some(0.0));
    assert_eq!(
        restarts.value(&[("task", "source"), ("source", BAD)]),
        Some(0.0)
    );
    assert!(
        families["webcare_source_last_success_timestamp_seconds"]
            .value(&[("source", "good")])
            .unwrap()
            > 1.7e9
    );
    assert!(
        families["webcare_source_last_success_timestamp_seconds"]
            .value(&[("source", BAD)])
            .is_none()
    );

    let latency = &families["webcare_poll_duration_seconds"];
    assert_eq!(latency.kind, "histogram");
    let inf = latency
        .samples
        .iter()
        .find(|s| {
            s.name == "webcare_poll_duration_seconds_bucket"
                && s.labels["source"] == "good"
                && s.labels["le"] == "+Inf"
        })
        .unwrap();
    assert!(inf.value >= good_polls);

    assert!(families["webcare_classified_total"].value(&[]).unwrap() >= 3.0);
    assert!(
        families["webcare_classifier_seconds_total"]
            .value(&[])
            .unwrap()
            > 0.0
    );
    assert_eq!(
        families["webcare_alerts_queued_total"].value(&[]),
        Some(0.0)
    );
    assert_eq!(families["webcare_alerts_dead_total"].value(&[]), Some(0.0));
    let size = families["webcare_database_size_bytes"].value(&[]).unwrap();
    assert!(
        size >= std::fs::metadata(setup.db()).unwrap().len() as f64,
        "{size}"
    );
}

#[test]
fn a_remote_admin_address_is_refused_unless_allowed() {
    let setup = Setup::with_admin(
        "[[sources]]\nname = \"f\"\nkind = \"rss\"\nurl = \"http://127.0.0.1:9/f.xml\"\n",
        "listen = \"0.0.0.0:9187\"",
    );
    let out = setup.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("admin.listen: 0.0.0.0:9187 is reachable from other machines"),
        "{err}"
    );
    assert!(err.contains("admin.allow_remote = true"), "{err}");

    let allowed = Setup::with_admin(
        "[[sources]]\nname = \"f\"\nkind = \"rss\"\nurl = \"http://127.0.0.1:9/f.xml\"\n",
        "listen = \"0.0.0.0:9187\"\nallow_remote = true",
    );
    let out = allowed.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_said(
        &out,
        "admin: http://0.0.0.0:9187 (/healthz /readyz /metrics)",
    );
}

#[test]
fn a_busy_admin_port_stops_the_daemon_naming_the_key() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let setup = Setup::with_admin(
        "[[sources]]\nname = \"f\"\nkind = \"rss\"\nurl = \"http://127.0.0.1:9/f.xml\"\n",
        &format!("listen = \"127.0.0.1:{port}\""),
    );
    let out = setup.run(&["run"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_said(
        &out,
        &format!("cannot listen on admin.listen 127.0.0.1:{port}"),
    );
}

// A strict parser for the Prometheus text exposition format 0.0.4, so the test fails on
// anything a Prometheus server would reject or misread: bad names, unknown escapes, samples
// outside their family's group, a TYPE after samples, duplicate series, broken histograms.

#[derive(Debug, Default)]
struct Family {
    kind: String,
    help: Option<String>,
    samples: Vec<Sample>,
}

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Family {
    /// The value of the sample whose labels are exactly `labels`.
    fn value(&self, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.labels == want)
            .map(|s| s.value)
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

/// Unescapes `\\`, `\n` and (in label values) `\"`; any other escape is an error.
fn unescape(s: &str, quote: bool) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quote => out.push('"'),
            other => return Err(format!("bad escape \\{other:?} in {s:?}")),
        }
    }
    Ok(out)
}

/// Splits `name{labels} value [timestamp]` into its parts.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(['{', ' '])
        .ok_or_else(|| format!("no value: {line:?}"))?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(inner) = rest.strip_prefix('{') {
        // `pos` walks `inner` one label at a time: `key="value"` then ',' or '}'.
        let mut pos = 0;
        loop {
            if inner[pos..].starts_with('}') {
                pos += 1;
                break;
            }
            let eq = inner[pos..]
                .find('=')
                .ok_or_else(|| format!("no '=' in labels of {line:?}"))?
                + pos;
            let key = &inner[pos..eq];
            if !is_label_name(key) {
                return Err(format!("bad label name {key:?}"));
            }
            if !inner[eq + 1..].starts_with('"') {
                return Err(format!("label {key} is not quoted: {line:?}"));
            }
            // The closing quote is the first one not escaped by a backslash.
            let body = eq + 2;
            let mut end = None;
            let mut escaped = false;
            for (i, c) in inner[body..].char_indices() {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => {
                        end = Some(body + i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end.ok_or_else(|| format!("unterminated label value in {line:?}"))?;
            let value = unescape(&inner[body..end], true)?;
            if labels.insert(key.to_string(), value).is_some() {
                return Err(format!("label {key} twice in {line:?}"));
            }
            pos = end + 1;
            if inner[pos..].starts_with(',') {
                pos += 1;
            } else if !inner[pos..].starts_with('}') {
                return Err(format!(
                    "expected ',' or '}}' after label {key} in {line:?}"
                ));
            }
        }
        rest = &inner[pos..];
    }
    let rest = rest
        .strip_prefix(' ')
        .ok_or_else(|| format!("expected a space before the value in {line:?}"))?;
    let mut parts = rest.split(' ');
    let value = parse_value(parts.next().unwrap_or(""))?;
    if let Some(ts) = parts.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp in {line:?}"))?;
    }
    if parts.next().is_some() {
        return Err(format!("trailing text in {line:?}"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The family a sample name belongs to, given the family's type.
fn belongs(sample: &str, family: &str, kind: &str) -> bool {
    match kind {
        "histogram" => ["_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| sample.strip_suffix(suffix) == Some(family)),
        "summary" => {
            sample == family
                || ["_sum", "_count"]
                    .iter()
                    .any(|suffix| sample.strip_suffix(suffix) == Some(family))
        }
        _ => sample == family,
    }
}

fn parse_exposition(text: &str) -> Result<BTreeMap<String, Family>, String> {
    if !text.ends_with('\n') {
        return Err("the exposition must end with a line feed".into());
    }
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut finished: Vec<String> = Vec::new();
    let mut series = std::collections::BTreeSet::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let keyword = parts.next().unwrap_or("");
            if keyword != "HELP" && keyword != "TYPE" {
                continue; // a comment
            }
            let name = parts.next().ok_or_else(|| format!("no name: {line:?}"))?;
            let arg = parts
                .next()
                .ok_or_else(|| format!("nothing after name: {line:?}"))?;
            if !is_metric_name(name) {
                return Err(format!("bad metric name {name:?}"));
            }
            if current.as_deref() != Some(name) {
                if finished.iter().any(|f| f == name) {
                    return Err(format!("family {name} is split into two groups"));
                }
                if let Some(c) = current.take() {
                    finished.push(c);
                }
                current = Some(name.to_string());
            }
            let family = families.entry(name.to_string()).or_default();
            if keyword == "HELP" {
                if family.help.is_some() {
                    return Err(format!("two HELP lines for {name}"));
                }
                family.help = Some(unescape(arg, false)?);
            } else {
                if !family.kind.is_empty() {
                    return Err(format!("two TYPE lines for {name}"));
                }
                if !family.samples.is_empty() {
                    return Err(format!("TYPE of {name} after its samples"));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg) {
                    return Err(format!("unknown type {arg:?} for {name}"));
                }
                family.kind = arg.to_string();
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let sample = parse_sample(line)?;
        let family_name = current
            .clone()
            .ok_or_else(|| format!("sample before any TYPE: {line:?}"))?;
        let family = families.get_mut(&family_name).unwrap();
        if !belongs(&sample.name, &family_name, &family.kind) {
            return Err(format!(
                "sample {} outside its family's group (current family {family_name})",
                sample.name
            ));
        }
        if !series.insert((sample.name.clone(), sample.labels.clone())) {
            return Err(format!("duplicate series {line:?}"));
        }
        family.samples.push(sample);
    }
    for (name, family) in &families {
        if family.kind.is_empty() {
            return Err(format!("{name} has no TYPE"));
        }
        if family.kind == "histogram" {
            check_histogram(name, family)?;
        }
    }
    Ok(families)
}

/// Buckets are cumulative, end at `+Inf`, and `+Inf` equals `_count`.
fn check_histogram(name: &str, family: &Family) -> Result<(), String> {
    let mut by_series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for s in &family.samples {
        let mut key = s.labels.clone();
        if s.name.ends_with("_bucket") {
            let le = key
                .remove("le")
                .ok_or_else(|| format!("{name} bucket without le"))?;
            by_series
                .entry(key)
                .or_default()
                .push((parse_value(&le)?, s.value));
        } else if s.name.ends_with("_count") {
            counts.insert(key, s.value);
        }
    }
    for (labels, buckets) in by_series {
        let mut last = (f64::NEG_INFINITY, 0.0);
        for &(le, n) in &buckets {
            if le <= last.0 || n < last.1 {
                return Err(format!("{name} {labels:?}: buckets not cumulative"));
            }
            last = (le, n);
        }
        if last.0 != f64::INFINITY {
            return Err(format!("{name} {labels:?}: no +Inf bucket"));
        }
        if counts.get(&labels) != Some(&last.1) {
            return Err(format!(
                "{name} {labels:?}: +Inf bucket differs from _count"
            ));
        }
    }
    Ok(())
}

#[test]
fn the_strict_parser_rejects_what_prometheus_would() {
    let ok = "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 1\n";
    let f = parse_exposition(ok).unwrap();
    assert_eq!(f["a_total"].value(&[("x", "q\"\\\n")]), Some(1.0));
    for bad in [
        "# TYPE a counter\na{x=\"\\t\"} 1\n",        // unknown escape
        "# TYPE a counter\na{x=\"unterminated} 1\n", // no closing quote
        "# TYPE a counter\nb 1\n",                   // sample outside its family
        "a 1\n",                                     // no TYPE
        "# TYPE a counter\na 1\na 2\n",              // duplicate series
        "# TYPE a counter\na 1\n# TYPE b gauge\nb 1\n# HELP a late\n", // split family
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_count 2\n", // no +Inf
        "# TYPE a counter\na one\n",                 // bad value
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}
