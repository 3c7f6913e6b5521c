//! feedparser's test corpus (`fixtures/feedparser/`, BSD-2-Clause) through the RSS source: every
//! well-formed file is polled by the real binary as its own source and must be read without an
//! error with every entry stored; simple `Expect:` checks on titles, links and ids are compared
//! with what the parser yields.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{Setup, text};
use regex::bytes::Regex;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/feedparser/tests")
}

fn files(sub: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![corpus().join(sub)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Comments and CDATA blanked out, so that a tag scan sees only real markup.
fn blank(data: &[u8]) -> Vec<u8> {
    let comment = Regex::new(r"(?s)<!--.*?-->|<!\[CDATA\[.*?\]\]>").unwrap();
    comment
        .replace_all(data, |c: &regex::bytes::Captures| vec![b' '; c[0].len()])
        .into_owned()
}

/// Entries in a file, counted the way a reader of the markup would: `<item>`/`<entry>` starts.
fn entry_count(data: &[u8]) -> usize {
    let open = Regex::new(r"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry|ITEM)[\s/>]").unwrap();
    open.find_iter(&blank(data)).count()
}

/// True when two entries share an id, guid or link (the source then stores one of them).
fn has_shared_ids(data: &[u8]) -> bool {
    let ids =
        Regex::new(r"<(?:guid|id)[^>]*>([^<]+)</|<link[^>]*>([^<]+)</link>|href=.([^'\x22]+)")
            .unwrap();
    let mut seen = HashMap::new();
    for c in ids.captures_iter(&blank(data)) {
        let v = c
            .get(1)
            .or(c.get(2))
            .or(c.get(3))
            .unwrap()
            .as_bytes()
            .to_vec();
        *seen.entry(v).or_insert(0) += 1;
    }
    seen.values().any(|n| *n > 1)
}

fn header_lines(data: &[u8]) -> bool {
    Regex::new(r"(?m)^Header:").unwrap().is_match(data)
}

#[test]
fn every_wellformed_corpus_file_is_read_and_every_entry_stored() {
    // Files whose meaning depends on HTTP headers (charset, Content-Location) are served by
    // the corpus tool instead; here every other file is a file:// source of one daemon run.
    let files: Vec<PathBuf> = files("wellformed")
        .into_iter()
        .filter(|p| !header_lines(&std::fs::read(p).unwrap()))
        .collect();
    assert!(files.len() > 800, "corpus missing: {}", files.len());
    let mut sources = String::new();
    for (i, p) in files.iter().enumerate() {
        sources.push_str(&format!(
            "[[sources]]\nname = \"f{i}\"\nkind = \"rss\"\nurl = \"file://{}\"\nbackfill = \"36500d\"\nwatch = \"Fjordlink\"\n\n",
            p.display()
        ));
    }
    let setup = Setup::with_watch("feedcorpusnevermatches", &sources);
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));

    let errors: Vec<String> = setup
        .sources_json()
        .into_iter()
        .filter(|s| !s["last_error"].is_null())
        .map(|s| format!("{}: {}", s["source"], s["last_error"]))
        .collect();
    assert!(errors.is_empty(), "well-formed files refused: {errors:#?}");

    let conn = rusqlite::Connection::open(setup.db()).unwrap();
    let mut per_source: HashMap<String, usize> = HashMap::new();
    let mut st = conn
        .prepare("SELECT source, count(*) FROM mentions GROUP BY source")
        .unwrap();
    for row in st
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .unwrap()
    {
        let (s, n) = row.unwrap();
        per_source.insert(s, n as usize);
    }
    let mut missing = Vec::new();
    let mut total = 0;
    for (i, p) in files.iter().enumerate() {
        let data = std::fs::read(p).unwrap();
        let want = entry_count(&data);
        let got = per_source.get(&format!("f{i}")).copied().unwrap_or(0);
        total += got;
        let ok = got == want || (got >= 1 && got < want && has_shared_ids(&data));
        if !ok {
            missing.push(format!("{}: {got} of {want} entries stored", p.display()));
        }
    }
    assert!(missing.is_empty(), "entries lost: {missing:#?}");
    assert!(total > 600, "only {total} entries stored in all");
}

/// `entries[N]['title'|'link'|'id'|'summary'|'description'] == u'literal'` conjuncts whose literal is plain text.
fn simple_expectations(data: &[u8]) -> Vec<(usize, String, String)> {
    let head = String::from_utf8_lossy(data);
    let Some(line) = head.lines().find_map(|l| l.trim().strip_prefix("Expect:")) else {
        return Vec::new();
    };
    let check = regex::Regex::new(
        r#"entries\[(\d+)\]\['(title|link|id|summary|description)'\] == u?'([^'\\<>&]*)'(?:\s|$|\))"#,
    )
    .unwrap();
    line.split(" and ")
        .filter(|c| !c.contains('+'))
        .filter_map(|c| check.captures(c.trim()))
        .map(|c| (c[1].parse().unwrap(), c[2].to_string(), c[3].to_string()))
        .collect()
}

#[test]
fn simple_expect_lines_of_the_corpus_hold() {
    let mut checked = 0;
    let mut failed = Vec::new();
    for p in files("wellformed") {
        let data = std::fs::read(&p).unwrap();
        let checks = simple_expectations(&data);
        if checks.is_empty() || header_lines(&data) {
            continue;
        }
        let url = format!(
            "http://127.0.0.1:8097/tests/{}",
            p.strip_prefix(corpus()).unwrap().display()
        );
        let entries = webcare::sources::feed::parse(
            &data,
            &webcare::sources::feed::Origin {
                url: &url,
                ..Default::default()
            },
        )
        .unwrap()
        .entries;
        for (i, field, want) in checks {
            checked += 1;
            let e = entries.get(i);
            let got = match field.as_str() {
                "title" => e.and_then(|e| e.title.clone()),
                "link" => e.and_then(|e| e.link.clone()),
                // The stored body is the content followed by the summary when that differs.
                "summary" | "description" => e
                    .map(|e| e.text.clone())
                    .filter(|t| !want.is_empty() && t.contains(want.as_str()))
                    .map(|_| want.clone()),
                _ => e.and_then(|e| e.id.clone()),
            };
            // URLs compare with the host in lower case, as the url crate writes it.
            let squash = |s: &str| {
                let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
                if field == "link" {
                    s.to_ascii_lowercase()
                } else {
                    s
                }
            };
            if got.as_deref().map(squash) != Some(squash(&want)) {
                failed.push(format!(
                    "{}: entries[{i}].{field}: want {want:?}, got {got:?}",
                    p.display()
                ));
            }
        }
    }
    assert!(checked > 50, "only {checked} simple checks found");
    assert!(
        failed.is_empty(),
        "{} of {checked} checks fail: {failed:#?}",
        failed.len()
    );
}
