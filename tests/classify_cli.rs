//! The classifier through the real binary: `classify` and `eval` without a config, labels on
//! stored mentions, and staff corrections that win over the classifier.

mod common;

use std::process::Command;

use common::run_with_input;
use common::{assert_said, text};

fn webcare() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_webcare"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("WEBCARE_CONFIG");
    c
}

#[test]
fn classify_reads_lines_and_json_lines_and_writes_one_verdict_per_line() {
    let out = run_with_input(webcare()
        .arg("classify"), "Al drie dagen geen internet en geen reactie van de klantenservice. Ik zeg mijn abonnement op!\n\
             {\"text\": \"Hvordan nulstiller jeg min router?\", \"lang\": \"da\"}\n\
             Thanks for the quick fix, the technician was great!\n"
                .as_bytes(),);
    assert!(out.status.success(), "{}", text(&out));
    let verdicts: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), 3);
    assert_eq!(verdicts[0]["label"], "complaint");
    assert_eq!(verdicts[0]["urgency"], "urgent");
    assert_eq!(verdicts[0]["lang"], "nl");
    assert!(
        verdicts[0]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["text"] == "Al drie dagen"),
        "{}",
        verdicts[0]
    );
    assert_eq!(verdicts[1]["label"], "question");
    assert_eq!(verdicts[1]["lang"], "da");
    assert_eq!(verdicts[2]["label"], "praise");
    assert_eq!(verdicts[2]["polarity"], "positive");
}

#[test]
fn eval_prints_scores_per_language() {
    let out = webcare()
        .args(["eval", "fixtures/eval/da.tsv"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("macro") && t.contains("complaint") && t.contains("da"),
        "{t}"
    );
}

#[test]
fn a_staff_correction_wins_over_the_classifier_and_can_be_exported() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let run = |args: &[&str]| {
        webcare()
            .args(["--config", "config/demo.toml"])
            .args(args)
            .env("WEBCARE__STORE__PATH", &db)
            .env("WEBCARE__MAIL__DIR", dir.path().join("mail"))
            .output()
            .unwrap()
    };
    assert!(run(&["once"]).status.success());
    let out = run(&["mentions", "--label", "complaint", "--json", "--limit", "1"]);
    let m: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    let id = m["id"].as_i64().unwrap().to_string();
    assert_eq!(m["label_source"], "classifier");

    let out = run(&["label", &id, "praise", "--by", "sanne"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("mention #{id}: complaint -> praise (by sanne)")),
        "{}",
        text(&out)
    );

    let out = run(&["mentions", "--label", "praise", "--json", "--limit", "500"]);
    let corrected = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["id"].as_i64().unwrap().to_string() == id)
        .expect("the corrected mention is listed under its new label");
    assert_eq!(corrected["label_source"], "staff");

    let out = run(&["label", "--export"]);
    let tsv = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(tsv.starts_with("lang\tlabel\ttext\n"), "{tsv}");
    assert_eq!(tsv.lines().count(), 2, "{tsv}");
    assert!(tsv.lines().nth(1).unwrap().contains("\tpraise\t"), "{tsv}");

    let out = run(&["label", "999999", "praise"]);
    assert!(!out.status.success());
    assert_said(&out, "no mention with id 999999");
    let out = run(&["label", &id, "angry"]);
    assert!(!out.status.success());
}

#[test]
fn classify_skips_a_line_that_is_not_utf8_and_classifies_the_rest() {
    let mut input = b"Thanks for the quick fix, the technician was great!\n".to_vec();
    input.extend_from_slice(b"Fjordlink \xff\xfe is kapot\n");
    input.extend_from_slice(b"Al drie dagen geen internet. Ik zeg mijn abonnement op!\n");
    let out = run_with_input(webcare().arg("classify"), &input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr.contains("error: line 2: not valid UTF-8 (bad byte at offset 10); line skipped"),
        "{stderr}"
    );
    let verdicts: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), 2, "{verdicts:?}");
    assert_eq!(verdicts[0]["label"], "praise");
    assert_eq!(verdicts[1]["label"], "complaint");
}

#[test]
fn classify_with_a_watch_reads_its_name_as_the_brand_and_names_the_watches_it_knows() {
    let dir = tempfile::tempdir().unwrap();
    let input = b"Ik stap over naar Fjordlink, eindelijk snel internet\n";
    let classify = |args: &[&str]| {
        run_with_input(
            webcare()
                .args(["--config", "config/demo.toml", "classify"])
                .args(args)
                .env("WEBCARE__STORE__PATH", dir.path().join("none.db")),
            input,
        )
    };
    let leaving = |args: &[&str]| {
        let out = classify(args);
        assert!(out.status.success(), "{}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["urgency"] == "urgent"
    };
    assert!(leaving(&[]));
    assert!(!leaving(&["--watch", "Fjordlink"]));

    let out = classify(&["--watch", "Fjord"]);
    assert!(!out.status.success());
    assert_said(&out, "no watch named \"Fjord\"");
    assert_said(&out, "Fjordlink, FjordBox");
}

#[test]
fn classify_with_a_config_uses_the_lexicons_its_classifier_section_names() {
    let dir = tempfile::tempdir().unwrap();
    let lexicons = dir.path().join("lexicons");
    std::fs::create_dir_all(lexicons.join("en")).unwrap();
    std::fs::write(
        lexicons.join("en/team.txt"),
        "[complaint meltdown]\nmelted = 2\n",
    )
    .unwrap();
    let label = |with_config: bool| {
        let mut cmd = webcare();
        if with_config {
            cmd.args(["--config", "config/demo.toml"])
                .env("WEBCARE__STORE__PATH", dir.path().join("none.db"))
                .env("WEBCARE__CLASSIFIER__LEXICONS", &lexicons);
        }
        let out = run_with_input(cmd.arg("classify"), b"the kettle melted\n");
        assert!(out.status.success(), "{}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["label"].as_str().unwrap().to_string()
    };
    assert_eq!(label(false), "neutral");
    assert_eq!(label(true), "complaint");
}

#[test]
fn classify_with_a_bad_config_names_the_key_and_exits_as_every_command_does() {
    let out = run_with_input(
        webcare()
            .args(["--config", "config/demo.toml", "classify"])
            .env("WEBCARE__CLASSIFIER__LEXICONS", "/nonexistent/lexicons"),
        b"the kettle melted\n",
    );
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert_said(&out, "classifier.lexicons: no lexicon folders");
    assert!(
        out.stdout.is_empty(),
        "no verdict from a config that was refused"
    );
}
