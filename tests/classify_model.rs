//! The learned layer through the real binary: `train` on a labelled file writes a model that
//! `classify --model` and `eval --model` use, a model for one language leaves the others
//! alone, a damaged model file is reported while the lexicons still decide, and without a
//! model of its own webcare classifies with the bundled one.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::run_with_input;
use common::text;

fn webcare() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_webcare"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("WEBCARE_CONFIG");
    c
}

fn classify(args: &[&str], input: &str) -> Output {
    run_with_input(webcare().arg("classify").args(args), input.as_bytes())
}

fn labels(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["label"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The English development set plus a team's own corrections: posts about the box's orange
/// light, which the lexicons read as neutral and this team calls complaints.
fn team_file(dir: &Path, with_dev: &[&str]) -> std::path::PathBuf {
    let mut rows = String::from("lang\tlabel\ttext\n");
    for lang in with_dev {
        let dev = std::fs::read_to_string(format!("fixtures/eval/{lang}.tsv")).unwrap();
        rows.extend(dev.lines().skip(1).map(|l| format!("{l}\n")));
    }
    let places = [
        "kitchen",
        "hallway",
        "attic",
        "office",
        "living room",
        "bedroom",
        "shed",
        "basement",
    ];
    let times = [
        "this morning",
        "lunch",
        "last night",
        "the weekend",
        "Monday",
        "yesterday",
    ];
    for p in places {
        for t in times {
            rows.push_str(&format!(
                "en\tcomplaint\tThe box in the {p} shows a blinking orange light since {t}\n"
            ));
        }
    }
    let path = dir.join("team.tsv");
    std::fs::write(&path, rows).unwrap();
    path
}

/// Runs `train --no-bundled --from tsv --out model` without a config (the file alone, not
/// the bundled examples), asserting it succeeds.
fn train_file(tsv: &Path, model: &Path) -> Output {
    let out = webcare()
        .args(["train", "--no-bundled", "--from"])
        .arg(tsv)
        .arg("--out")
        .arg(model)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    out
}

/// Trains a model with `train --no-bundled --out` on [`team_file`] with the English
/// development set: the model and the run.
fn train_team_model(dir: &Path) -> (std::path::PathBuf, Output) {
    let tsv = team_file(dir, &["en"]);
    let model = dir.join("team.model");
    let out = train_file(&tsv, &model);
    (model, out)
}

#[test]
fn train_writes_a_model_that_classify_and_eval_use() {
    let dir = tempfile::tempdir().unwrap();
    let (model, out) = train_team_model(dir.path());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("trained on 459 examples"), "{report}");
    assert!(report.contains("en label"), "{report}");
    assert!(report.contains("lexicon  + model"), "{report}");
    // Piped, so no progress bar on stderr.
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("training"),
        "{}",
        text(&out)
    );

    let post = "My box shows a blinking orange light again\n";
    assert_eq!(labels(&classify(&[], post)), ["neutral"]);
    let m = model.to_str().unwrap();
    assert_eq!(labels(&classify(&["--model", m], post)), ["complaint"]);
    let explained = classify(&["--explain", "--model", m], post);
    let explained = String::from_utf8_lossy(&explained.stdout);
    assert!(explained.contains("- model: \""), "{explained}");
    assert!(explained.contains("→ complaint +"), "{explained}");

    let eval = webcare()
        .args(["eval", "fixtures/eval/en.tsv", "--model", m])
        .output()
        .unwrap();
    assert!(eval.status.success(), "{}", text(&eval));
    let line = String::from_utf8_lossy(&eval.stdout)
        .lines()
        .next()
        .unwrap()
        .to_string();
    let f1: f64 = line
        .split("macro-F1 ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(f1 >= 0.85, "{line}");
}

#[test]
fn a_model_for_one_language_leaves_the_others_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = train_team_model(dir.path());
    let mut input = String::new();
    for lang in ["nl", "da"] {
        let dev = std::fs::read_to_string(format!("fixtures/eval/{lang}.tsv")).unwrap();
        for l in dev.lines().skip(1) {
            let t = l.splitn(3, '\t').nth(2).unwrap();
            input.push_str(&serde_json::json!({"text": t, "lang": lang}).to_string());
            input.push('\n');
        }
    }
    let without = classify(&["--no-model"], &input);
    let with = classify(&["--model", model.to_str().unwrap()], &input);
    assert!(with.status.success(), "{}", text(&with));
    assert_eq!(with.stdout, without.stdout);
}

#[test]
fn a_damaged_model_is_named_and_the_lexicons_decide() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.model");
    std::fs::write(&bad, b"WCMODEL\0\x02\x00\x00\x00\xff\xff").unwrap();
    let post = "Great, another delay. Thanks Southern \u{1F644}\n";
    let plain = classify(&["--no-model"], post);
    let out = classify(&["--model", bad.to_str().unwrap()], post);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{} is not a webcare model or is damaged",
            bad.display()
        )),
        "{err}"
    );
    assert!(err.contains("classifying with the lexicons alone"), "{err}");
    assert_eq!(out.stdout, plain.stdout);
    assert_eq!(labels(&out), ["complaint"]);

    // A model from a newer webcare says so.
    std::fs::write(&bad, b"WCMODEL\0\x09\x00\x00\x00").unwrap();
    let out = classify(&["--model", bad.to_str().unwrap()], post);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is a model of format 9, this webcare reads format 2"),
        "{err}"
    );
    assert_eq!(out.stdout, plain.stdout);
}

/// A feed server whose `forum.xml` holds one post: the team's own complaint of the box's
/// orange light, which the lexicons alone read as neutral.
fn forum_with_the_orange_light() -> common::FeedServer {
    let server = common::FeedServer::start();
    server.publish(
        "forum.xml",
        &[(
            "urn:test:light",
            "My Fjordlink box shows a blinking orange light again",
        )],
    );
    server
}

#[test]
fn the_daemon_uses_the_configured_model_and_train_reads_its_corrections() {
    use common::{Setup, assert_said};
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = train_team_model(dir.path());
    // The same labelled file again, for the corrections run below.
    let tsv = team_file(dir.path(), &["en"]);

    let server = forum_with_the_orange_light();
    let news = "Storing bij Fjordlink treft duizenden klanten. Klanten van internetprovider Fjordlink in Utrecht zaten donderdag urenlang zonder internet door een storing.";
    server.publish("news.xml", &[("urn:test:news", news)]);
    let setup = Setup::new(&format!(
        "[classifier]\nmodel = \"{}\"\n\n\
         [[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1m\"\nbackfill = \"3650d\"\n\n\
         [[sources]]\nname = \"news\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1m\"\nbackfill = \"3650d\"\nvoice = \"news\"\nlang = \"nl\"\n",
        model.display(),
        server.url("forum.xml"),
        server.url("news.xml"),
    ));
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<serde_json::Value> = setup.json_lines(&["mentions", "--json"]);
    let by_source = |s: &str| {
        rows.iter()
            .find(|r| r["source"] == s)
            .unwrap_or_else(|| panic!("no mention from {s}: {rows:?}"))
    };
    let light = by_source("forum");
    assert_eq!(light["label"], "complaint", "{light}");
    assert!(light.to_string().contains("\"kind\":\"model\""), "{light}");
    let report = by_source("news");
    assert_eq!(report["label"], "neutral", "{report}");

    // A correction in the database is read by `train` with the config.
    let id = light["id"].as_i64().unwrap().to_string();
    let out = setup.run(&["label", &id, "question"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = setup
        .webcare()
        .args(["train", "--no-bundled", "--from"])
        .arg(&tsv)
        .arg("--out")
        .arg(dir.path().join("again.model"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    // The Dutch news report, left as labelled, stays out: nothing Dutch was corrected.
    assert_said(&out, "1 corrections and 0 mentions left as labelled from");
    assert_said(&out, "trained on 460 examples");
    // With a config the model is also stored in the database and, scoring better than the
    // lexicons alone, put in use. `classify` with the config uses its `[classifier] model`.
    assert!(
        text(&out).contains("model #1 stored in") && text(&out).contains("and in use"),
        "{}",
        text(&out)
    );
    let listed = setup.run(&["model", "list"]);
    assert_said(&listed, "train");
    let out = run_with_input(
        setup.webcare().arg("classify"),
        b"The box in the garden shows a blinking orange light since noon\n",
    );
    assert_eq!(labels(&out), ["complaint"], "{}", text(&out));
    assert_said(&out, "\"kind\":\"model\"");

    // A model with too few examples for any head changes no verdict: it is kept, not used,
    // and model #1 stays in use.
    let tiny = dir.path().join("tiny.tsv");
    std::fs::write(
        &tiny,
        "lang\tlabel\ttext\nen\tcomplaint\tThe router blinks orange again\n",
    )
    .unwrap();
    let out = setup
        .webcare()
        .args(["train", "--no-bundled", "--from"])
        .arg(&tiny)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_said(&out, "model #2 stored in");
    assert_said(
        &out,
        "no language has a head in use, so it would change no verdict; model #1 stays in use",
    );
    let out = run_with_input(
        setup.webcare().arg("classify"),
        b"The box in the garden shows a blinking orange light since noon\n",
    );
    assert_said(&out, "\"kind\":\"model\"");

    // Without a config there is no database to store it in: --out is needed.
    let out = webcare()
        .args(["train", "--from"])
        .arg(&tsv)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_said(&out, "give --out FILE");
}

#[test]
fn train_and_eval_draw_progress_on_a_terminal_and_stay_quiet_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("nl.model");
    let bin = env!("CARGO_BIN_EXE_webcare");
    let train = format!(
        "{bin} train --no-bundled --from fixtures/eval/nl.tsv --out {}",
        model.display()
    );
    let eval = format!("{bin} eval fixtures/eval/nl.tsv");
    for (cmd, bar) in [(&train, "training"), (&eval, "classifying")] {
        let args: Vec<&str> = cmd.split(' ').skip(1).collect();
        let piped = webcare().args(&args).output().unwrap();
        assert!(piped.status.success(), "{}", text(&piped));
        let all = text(&piped);
        assert!(
            !all.contains('\r') && !all.contains('\u{1b}') && !all.contains(bar),
            "{cmd} drew progress into a pipe: {all:?}"
        );
        // util-linux `script` runs the command on a pseudo-terminal.
        let Ok(tty) = Command::new("script")
            .args(["-qec", cmd, "/dev/null"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("WEBCARE_CONFIG")
            .output()
        else {
            eprintln!("no `script` to run a terminal with; the terminal half is not checked");
            continue;
        };
        assert!(tty.status.success(), "{}", text(&tty));
        let shown = String::from_utf8_lossy(&tty.stdout);
        assert!(
            shown.contains(bar) && shown.contains('\r'),
            "{cmd}: {shown:?}"
        );
    }
}

#[test]
fn the_notifier_classifies_a_stored_mention_with_the_configured_model() {
    let dir = tempfile::tempdir().unwrap();
    let (model, _) = train_team_model(dir.path());
    let feed = common::FeedServer::start();
    let post = "Fjordlink: the box in the garage shows a blinking orange light since noon";
    feed.set(
        "feed",
        common::Reply::Feed(common::atom(&[("urn:orange".into(), post.into())])),
    );
    let setup = common::Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nlang = \"en\"\n\n\
         [classifier]\nmodel = \"{}\"\n",
        feed.url("feed"),
        model.display()
    ));
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    // A mention stored before the classifier ran (as by an older webcare): routing classifies
    // it, with the lexicons, thresholds and model the daemon uses, not the built-in lexicons.
    let conn = rusqlite::Connection::open(setup.db()).unwrap();
    let id: i64 = conn
        .query_row("SELECT id FROM mentions", [], |r| r.get(0))
        .unwrap();
    conn.execute(
        "UPDATE mentions SET label = NULL, sentiment = NULL, urgency = NULL, reasons = NULL",
        [],
    )
    .unwrap();
    drop(conn);
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str(
        "\n[mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\n\n\
         [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n",
    );
    std::fs::write(&setup.config, config).unwrap();
    let out = setup.run(&["route", &id.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.starts_with(&format!("mention #{id} · complaint ·")),
        "{shown}"
    );
    assert!(shown.contains("model: "), "{shown}");
}

/// Staff correct what the lexicons got wrong, so corrections alone are all contradictions of
/// the lexicons; a model trained on them alone learns to contradict them everywhere. `train`
/// with a config adds the mentions staff left as labelled, and the model learns the team's own
/// complaint while the lexicons' right answers stay right.
#[test]
fn train_adds_mentions_staff_left_as_labelled_so_corrections_do_not_turn_the_lexicons_around() {
    use common::{FeedServer, Reply, Setup, assert_said, atom};
    let places = [
        "kitchen", "hallway", "attic", "office", "bedroom", "shed", "basement", "loft",
    ];
    let times = [
        "this morning",
        "lunch",
        "last night",
        "Monday",
        "yesterday",
        "Sunday",
        "noon",
        "today",
    ];
    let orange: Vec<String> = places
        .iter()
        .flat_map(|p| times.iter().map(move |t| (p, t)))
        .take(60)
        .map(|(p, t)| {
            format!("My Fjordlink box in the {p} shows a blinking orange light since {t}")
        })
        .collect();
    // Everyday posts of every kind, which nobody corrects (named, so the brand's watch stores
    // them); three for each correction go into training.
    let dev = std::fs::read_to_string("fixtures/eval/en.tsv").unwrap();
    let everyday: Vec<String> = dev
        .lines()
        .skip(1)
        .filter_map(|l| l.splitn(3, '\t').nth(2))
        .filter(|t| !t.contains(['&', '<', '>']))
        .step_by(2)
        .take(200)
        .map(|t| format!("Fjordlink: {t}"))
        .collect();
    let entries: Vec<(String, String)> = orange
        .iter()
        .chain(&everyday)
        .enumerate()
        .map(|(i, t)| (format!("urn:test:m{i}"), t.clone()))
        .collect();
    let server = FeedServer::start();
    server.set("forum.xml", Reply::Feed(atom(&entries)));
    let setup = Setup::new(&format!(
        "[classifier]\nretrain_after = 0\n\n\
         [[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1m\"\nbackfill = \"3650d\"\nlang = \"en\"\n",
        server.url("forum.xml"),
    ));
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    let stored: Vec<serde_json::Value> =
        setup.json_lines(&["mentions", "--json", "--limit", "1000"]);
    for body in &orange {
        let m = stored
            .iter()
            .find(|m| m["text"].as_str() == Some(body.as_str()))
            .unwrap_or_else(|| panic!("not stored: {body}"));
        assert_eq!(m["label"], "neutral", "{m}");
        let out = setup.run(&["label", &m["id"].to_string(), "complaint"]);
        assert!(out.status.success(), "{}", text(&out));
    }

    let out = setup.run(&["train"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_said(
        &out,
        "60 corrections and 180 mentions left as labelled from",
    );
    assert_said(&out, "and in use");
    let out = run_with_input(
        setup.webcare().arg("classify"),
        b"My Fjordlink box in the garage shows a blinking orange light since Friday\n\
          Fjordlink opens a new shop in Aarhus next month\n\
          When does the Fjordlink shop open on Sunday?\n\
          Thanks Fjordlink, the new router works great\n",
    );
    assert_eq!(
        labels(&out),
        ["complaint", "neutral", "question", "praise"],
        "{}",
        text(&out)
    );

    // A file of corrections alone (what `label --export` gives) would teach a model to
    // contradict the lexicons: its head is not used, and train says why.
    let export = setup.run(&["label", "--export"]);
    let file = setup.dir.path().join("corrections.tsv");
    std::fs::write(&file, &export.stdout).unwrap();
    let alone = setup.dir.path().join("alone.model");
    let out = train_file(&file, &alone);
    assert_said(&out, "en label 60 (contradicts the lexicons: not used)");
    assert_said(
        &out,
        "warning: en: the lexicons give under 20 % of these 60 examples their label, as in corrections alone",
    );
    let out = run_with_input(
        webcare().arg("classify").arg("--model").arg(&alone),
        b"Fjordlink opens a new shop in Aarhus next month
          When does the Fjordlink shop open on Sunday?
",
    );
    assert_eq!(labels(&out), ["neutral", "question"], "{}", text(&out));

    // On top of the bundled examples (what `train` does unless told otherwise), the same
    // corrections alone teach the orange light and leave everyday posts as they were.
    let on_bundled = setup.dir.path().join("on-bundled.model");
    let out = webcare()
        .args(["train", "--from"])
        .arg(&file)
        .arg("--out")
        .arg(&on_bundled)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_said(&out, "of them the bundled model's");
    let danish = serde_json::json!({"text": MISREAD[2].0, "lang": "da"});
    let out = run_with_input(
        webcare().arg("classify").arg("--model").arg(&on_bundled),
        format!(
            "My Fjordlink box in the garage shows a blinking orange light since Friday\n\
             Fjordlink opens a new shop in Aarhus next month\n\
             When does the Fjordlink shop open on Sunday?\n\
             Thanks Fjordlink, the new router works great\n{danish}\n"
        )
        .as_bytes(),
    );
    // The Danish post, which nobody corrected, is read as the bundled model reads it.
    assert_eq!(
        labels(&out),
        ["complaint", "neutral", "question", "praise", MISREAD[2].1],
        "{}",
        text(&out)
    );
}

#[test]
fn the_configured_labelled_files_are_trained_on_with_every_correction() {
    use common::{Setup, assert_said};
    let dir = tempfile::tempdir().unwrap();
    let ours = team_file(dir.path(), &["en"]);
    let rows = std::fs::read_to_string(&ours).unwrap().lines().count() - 1;
    let server = forum_with_the_orange_light();
    let setup = Setup::new(&format!(
        "[classifier]\ntrain_from = [\"{}\"]\nbundled_model = false\n\n\
         [[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1m\"\nbackfill = \"3650d\"\n",
        ours.display(),
        server.url("forum.xml"),
    ));
    let out = setup.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    let stored: Vec<serde_json::Value> = setup.json_lines(&["mentions", "--json"]);
    let id = stored[0]["id"].as_i64().unwrap().to_string();
    let out = setup.run(&["label", &id, "question"]);
    assert!(out.status.success(), "{}", text(&out));

    // No --from: the one correction and every row of the configured file.
    let model = dir.path().join("ours.model");
    let out = setup.run(&["train", "--out", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_said(&out, &format!("trained on {} examples", rows + 1));
    let listed = setup.run(&["model", "list"]);
    assert_said(&listed, &format!("{}", rows + 1));
}

/// Posts the lexicons alone misread and the bundled model reads right: a late delivery told
/// with a joke, a fare question with a greeting, and a charge taken twice told calmly.
const MISREAD: [(&str, &str); 3] = [
    (
        "@JustEatUK ordered at 7:45 so we'd have food for the first song. It's now the voting and the driver has been 'nearby' for 50 minutes. Nul points.",
        "complaint",
    ),
    (
        "Kia ora @AirNZ, if I move my Wellington flight to the day before is there a change fee on a Seat+Bag fare?",
        "question",
    ),
    (
        "@Rejsekort det svarer jo slet ikke på mit spørgsmål. Jeg er blevet trukket 2 gange for den samme tur, det er det jeg vil have løst",
        "complaint",
    ),
];

fn misread_input() -> String {
    MISREAD.iter().map(|(t, _)| format!("{t}\n")).collect()
}

#[test]
fn without_a_model_of_its_own_webcare_classifies_with_the_bundled_model() {
    use common::assert_said;
    let want: Vec<&str> = MISREAD.iter().map(|(_, l)| *l).collect();
    let input = misread_input();
    let bundled = classify(&[], &input);
    assert!(bundled.status.success(), "{}", text(&bundled));
    assert_eq!(labels(&bundled), want);
    assert_said(&bundled, "\"kind\":\"model\"");
    let alone = classify(&["--no-model"], &input);
    assert_ne!(
        labels(&alone),
        want,
        "the lexicons alone read these right now: pick posts they misread"
    );
    let explained = classify(&["--explain"], &input);
    assert_said(&explained, "- model: \"");
    // `--no-model` and `--model` are one choice.
    let both = classify(&["--no-model", "--model", "x.bin"], &input);
    assert!(!both.status.success(), "{}", text(&both));

    // `eval` scores the same classifier, and `--no-model` the lexicons alone.
    let dir = tempfile::tempdir().unwrap();
    let tsv = dir.path().join("misread.tsv");
    let mut rows = String::from("lang\tlabel\ttext\n");
    for ((t, l), lang) in MISREAD.iter().zip(["en", "en", "da"]) {
        rows.push_str(&format!("{lang}\t{l}\t{t}\n"));
    }
    std::fs::write(&tsv, rows).unwrap();
    // The scores on stdout; what was scored on stderr, apart from them.
    let eval = |args: &[&str]| {
        let out = webcare().arg("eval").arg(&tsv).args(args).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        let (stdout, stderr) = (&out.stdout, &out.stderr);
        let s = |b: &Vec<u8>| String::from_utf8_lossy(b).into_owned();
        (s(stdout), s(stderr))
    };
    let all_right = "== all (3 mentions, label) accuracy 1.000";
    let (scores, what) = eval(&[]);
    assert!(scores.contains(all_right), "{scores}");
    assert_eq!(what, "scores of the lexicons with the bundled model\n");
    let (scores, what) = eval(&["--no-model"]);
    assert!(!scores.contains(all_right), "{scores}");
    assert_eq!(what, "scores of the lexicons alone\n");
}

#[test]
fn the_daemon_classifies_with_the_bundled_model_unless_the_config_turns_it_off() {
    use common::Setup;
    let (post, _) = MISREAD[2];
    let server = common::FeedServer::start();
    server.publish("forum.xml", &[("urn:test:twice", post)]);
    let label_with = |classifier: &str| {
        let setup = Setup::with_watch(
            "Rejsekort",
            &format!(
                "{classifier}[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1m\"\nbackfill = \"3650d\"\nlang = \"da\"\n",
                server.url("forum.xml"),
            ),
        );
        let out = setup.run(&["once"]);
        assert!(out.status.success(), "{}", text(&out));
        let rows: Vec<serde_json::Value> = setup.json_lines(&["mentions", "--json"]);
        assert_eq!(rows.len(), 1, "{rows:?}");
        // `classify` with the config judges as the daemon did.
        let again = run_with_input(
            setup.webcare().args(["classify", "--watch", "Fjordlink"]),
            format!("{post}\n").as_bytes(),
        );
        assert_eq!(labels(&again)[0], rows[0]["label"].as_str().unwrap());
        rows[0]["label"].as_str().unwrap().to_string()
    };
    assert_eq!(label_with(""), "complaint");
    assert_ne!(
        label_with("[classifier]\nbundled_model = false\n\n"),
        "complaint"
    );
}
