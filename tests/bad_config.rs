//! A bad configuration is refused before anything starts: every problem is named with its key
//! path, and the exit code is 78.

mod common;

use common::{assert_said, text};

fn check(config: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webcare.toml");
    std::fs::write(&path, config).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webcare"))
        .arg("--config")
        .arg(&path)
        .arg("once")
        .env_remove("WEBCARE_CONFIG")
        .env_remove("FJORD_TOKEN_MISSING")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !dir.path().join("webcare.db").exists(),
        "nothing may start with a bad config"
    );
    (out.status.code(), text(&out))
}

/// Fails unless `out` is a refusal for bad config (exit 78) that says `what`.
/// Runs `webcare check-config` with no `--config`, so the environment names everything: `vars`
/// (name, value) set, `WEBCARE_CONFIG` unset unless among them.
fn check_config_with(vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_webcare"));
    command.arg("check-config").env_remove("WEBCARE_CONFIG");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn assert_refused(out: &std::process::Output, what: &str) {
    assert_eq!(out.status.code(), Some(78), "{}", text(out));
    assert_said(out, what);
}

const WATCH: &str = "[[watches]]\nname = \"Fjordlink\"\nquery = \"fjordlink\"\n";

#[test]
fn a_duration_without_unit_names_the_key_and_the_fix() {
    let (code, out) = check(&format!(
        "{WATCH}[[sources]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://a.example/feed\"\n\
         [[sources]]\nname = \"b\"\nkind = \"rss\"\nurl = \"https://b.example/feed\"\n\
         [[sources]]\nname = \"c\"\nkind = \"rss\"\nurl = \"https://c.example/feed\"\ninterval = \"5\"\n"
    ));
    assert_eq!(code, Some(78), "{out}");
    assert!(
        out.contains(r#"sources[2].interval: "5" is not a duration; use e.g. "5m""#),
        "{out}"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let (code, out) = check(
        "colour = \"blue\"\n\
         [[watches]]\nname = \"Fjordlink\"\nquery = \"(fjordlink OR\"\n\
         [[sources]]\nname = \"a\"\nkind = \"myspace\"\n\
         [[sources]]\nname = \"b\"\nkind = \"rss\"\nurl = \"https://b.example/feed\"\nfrequency = \"5m\"\n\
         [[sources]]\nname = \"c\"\nkind = \"rss\"\nurl = \"ftp://c.example/feed\"\n",
    );
    assert_eq!(code, Some(78), "{out}");
    assert!(out.contains("colour: unknown key"), "{out}");
    assert!(out.contains("watches[0].query: column"), "{out}");
    assert!(
        out.contains("sources[0].kind: unknown source kind \"myspace\"; known kinds: rss"),
        "{out}"
    );
    assert!(
        out.contains("sources[1].frequency: unknown field `frequency`"),
        "{out}"
    );
    assert!(
        out.contains("sources[2].url: scheme \"ftp\" is not supported"),
        "{out}"
    );
    assert!(out.contains("5 problems"), "{out}");
}

#[test]
fn a_missing_file_or_config_flag_is_a_config_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webcare"))
        .args(["--config", "/nonexistent/webcare.toml", "check-config"])
        .output()
        .unwrap();
    assert_refused(&out, "config file /nonexistent/webcare.toml does not exist");

    let out = check_config_with(&[]);
    assert_refused(&out, "pass --config FILE or set WEBCARE_CONFIG");
}

#[test]
fn duplicate_names_and_dangling_watch_references_are_refused() {
    let (code, out) = check(&format!(
        "{WATCH}[[sources]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://a.example/feed\"\nwatch = \"Nope\"\n\
         [[sources]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://b.example/feed\"\njitter = 3.0\n"
    ));
    assert_eq!(code, Some(78), "{out}");
    assert!(
        out.contains("sources[0].watch: no watch is named \"Nope\""),
        "{out}"
    );
    assert!(
        out.contains("sources[1].name: source \"a\" is defined twice"),
        "{out}"
    );
    assert!(
        out.contains("sources[1].jitter: 3 is out of range"),
        "{out}"
    );
}

#[test]
fn a_watch_name_with_a_comma_is_refused() {
    let (code, out) = check(
        "[[watches]]\nname = \"Fjordlink, Fjordbox\"\nquery = \"fjordlink\"\n\
         [[sources]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://a.example/feed\"\n",
    );
    assert_eq!(code, Some(78), "{out}");
    assert!(
        out.contains("watches[0].name: \"Fjordlink, Fjordbox\" contains a comma"),
        "{out}"
    );
}

#[test]
fn toml_syntax_errors_name_the_file() {
    let (code, out) = check("[[watches]\nname = ");
    assert_eq!(code, Some(78), "{out}");
    assert!(out.contains("webcare.toml"), "{out}");
}

#[test]
fn an_unreadable_secret_is_named_without_its_value() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webcare.toml");
    let mut f = std::fs::File::create(&path).unwrap();
    write!(
        f,
        "{WATCH}[[sources]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://a.example/feed\"\n"
    )
    .unwrap();
    drop(f);
    use webcare::secret::SecretRef;
    // The rss source has no secrets, so exercise the shared resolver through the library.
    let mut errors = webcare::config::ConfigErrors::default();
    let got = SecretRef::new("token", Some("FJORD_TOKEN_MISSING".into()), None).resolve(
        "sources[0]",
        true,
        &mut errors,
    );
    assert!(got.is_none());
    assert_eq!(errors.problems[0].0, "sources[0].token_env");
    assert!(
        errors.problems[0]
            .1
            .contains("FJORD_TOKEN_MISSING is not set")
    );

    // The mail password from the file `smtp-password`, and what was said on the way.
    let smtp_password = || {
        let mut errors = webcare::config::ConfigErrors::default();
        let got = SecretRef::new("password", None, Some("smtp-password".into())).resolve(
            "mail",
            true,
            &mut errors,
        );
        (got, errors)
    };
    let (got, errors) = smtp_password();
    assert!(got.is_none());
    assert!(
        errors.problems[0].1.contains("cannot read smtp-password"),
        "{:?}",
        errors.problems
    );

    // A relative secret file is looked up in systemd's credentials folder.
    std::fs::write(dir.path().join("smtp-password"), "hunter2\n").unwrap();
    // SAFETY: this test is the only one touching CREDENTIALS_DIRECTORY.
    unsafe { std::env::set_var("CREDENTIALS_DIRECTORY", dir.path()) };
    let got = smtp_password().0.unwrap();
    assert_eq!(got.expose(), "hunter2");
    assert!(!format!("{got:?}").contains("hunter2"));
}

#[test]
fn environment_overrides_apply_and_check_config_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("webcare.toml");
    std::fs::write(
        &path,
        format!("{WATCH}[[sources]]\nname = \"news\"\nkind = \"rss\"\nurl = \"https://a.example/feed\"\ninterval = \"10m\"\n"),
    )
    .unwrap();
    let config = path.to_str().unwrap();
    let out = check_config_with(&[
        ("WEBCARE_CONFIG", config),
        ("WEBCARE__STORE__PATH", "/srv/elsewhere/webcare.db"),
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("database: /srv/elsewhere/webcare.db"), "{t}");
    assert!(t.contains("news") && t.contains("every 10m"), "{t}");
    assert!(!std::path::Path::new("/srv/elsewhere/webcare.db").exists());

    let out = check_config_with(&[
        ("WEBCARE_CONFIG", config),
        ("WEBCARE__HTTP__TIMEOUT", "soon"),
    ]);
    assert_refused(&out, "http.timeout: \"soon\" is not a duration");
}

#[test]
fn classifier_thresholds_that_make_no_sense_are_refused() {
    let (code, out) = check(&format!(
        "{WATCH}[[sources]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://a.example/feed\"\n\
         [classifier]\nfast_thread = 0\nduplicate_authors = 1\nhigh_reach = -1\n\
         train_from = [\"/nonexistent/ours.tsv\"]\n"
    ));
    assert_eq!(code, Some(78), "{out}");
    assert!(
        out.contains("classifier.train_from: cannot read /nonexistent/ours.tsv"),
        "{out}"
    );
    assert!(
        out.contains("classifier.fast_thread: must be at least 1"),
        "{out}"
    );
    assert!(
        out.contains("classifier.duplicate_authors: must be at least 2"),
        "{out}"
    );
    assert!(
        out.contains("classifier.high_reach: must not be negative"),
        "{out}"
    );
    let (code, out) = check(&format!(
        "{WATCH}[[sources]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://a.example/feed\"\n\
         [classifier]\nhigh_reach = \"many\"\n"
    ));
    assert_eq!(code, Some(78), "{out}");
    assert!(
        out.contains("classifier.high_reach: invalid type: string \"many\""),
        "{out}"
    );
}

#[test]
fn config_errors_quoting_a_url_redact_its_credentials() {
    let (code, out) = check(&format!(
        "{WATCH}[[sources]]\nname = \"toots\"\nkind = \"mastodon\"\nbase_url = \"mastodon.social/api?access_token=tootsecret1\"\nquery = \"fjordlink\"\n\
         [[sources]]\nname = \"apps\"\nkind = \"app_store\"\nbase_url = \"ftp://bob:hunter22@apps.example/?apikey=appsecret2\"\napp_id = \"1\"\ncountries = [\"nl\"]\n"
    ));
    assert_eq!(code, Some(78), "{out}");
    assert!(out.contains("sources[0].base_url"), "{out}");
    assert!(out.contains("sources[1].base_url"), "{out}");
    assert!(out.contains("access_token=REDACTED"), "{out}");
    assert!(out.contains("ftp://REDACTED@apps.example"), "{out}");
    for secret in ["tootsecret1", "hunter22", "appsecret2"] {
        assert!(!out.contains(secret), "{secret} leaked: {out}");
    }
    // A TOML syntax error quotes the offending line.
    let (code, out) = check(&format!(
        "{WATCH}[[sources]]\nname = \"a\"\nkind = \"rss\"\nurl = \"https://u:pw-secret3@a.example/feed?token=tok-secret4\n"
    ));
    assert_eq!(code, Some(78), "{out}");
    assert!(
        !out.contains("pw-secret3") && !out.contains("tok-secret4"),
        "{out}"
    );
}
