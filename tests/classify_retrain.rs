//! The daemon retrains the classifier by itself: corrections made with `webcare label` while
//! `webcare run` polls lead to a model in the database that the daemon then classifies with;
//! a model trained on corrections that contradict each other scores worse and is kept but not
//! used; `webcare model use` and `model off` (back to the bundled model) switch the running
//! daemon within seconds.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{FeedServer, KillOnDrop, Reply, Setup, assert_said, atom, text};

const LABELS: [&str; 4] = ["complaint", "question", "praise", "neutral"];

/// Waits for `what` to hold, up to a minute (training runs in a debug build on a shared machine).
fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `(label, text)` rows of the English development set, taken from each label in turn so any
/// prefix is balanced. Rows with markup characters are left out (the feed carries them as HTML).
fn dev_rows() -> Vec<(String, String)> {
    let dev = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/eval/en.tsv"))
        .unwrap();
    let mut by_label: Vec<Vec<(String, String)>> = vec![Vec::new(); 4];
    for line in dev.lines().skip(1) {
        let mut p = line.splitn(3, '\t');
        let (_, label, text) = (p.next().unwrap(), p.next().unwrap(), p.next().unwrap());
        if text.contains(['&', '<', '>']) {
            continue;
        }
        let i = LABELS.iter().position(|l| *l == label).unwrap();
        by_label[i].push((label.to_string(), format!("Fjordlink: {text}")));
    }
    let mut out = Vec::new();
    for k in 0.. {
        let before = out.len();
        for rows in &by_label {
            if let Some(r) = rows.get(k) {
                out.push(r.clone());
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

/// This team's own kind of complaint, which the lexicons read as neutral.
fn orange_light(n: usize) -> Vec<(String, String)> {
    let places = ["kitchen", "hallway", "attic", "office", "bedroom", "shed"];
    let times = ["this morning", "lunch", "last night", "Monday", "yesterday"];
    places
        .iter()
        .flat_map(|p| times.iter().map(move |t| (p, t)))
        .take(n)
        .map(|(p, t)| {
            (
                "complaint".to_string(),
                format!("The Fjordlink box in the {p} shows a blinking orange light since {t}"),
            )
        })
        .collect()
}

/// `(id, active, note)` of every stored model.
fn models(setup: &Setup) -> Vec<(i64, bool, String)> {
    let Ok(conn) = rusqlite::Connection::open(setup.db()) else {
        return Vec::new();
    };
    let Ok(mut st) = conn.prepare("SELECT id, active, note FROM models ORDER BY id") else {
        return Vec::new();
    };
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The stored mentions as JSON rows.
fn mentions(setup: &Setup) -> Vec<serde_json::Value> {
    setup.json_lines(&["mentions", "--json", "--limit", "1000"])
}

/// Labels each stored mention whose text is in `rows` with the row's label, through the binary.
fn label_all(setup: &Setup, stored: &[serde_json::Value], rows: &[(String, String)]) {
    for (label, body) in rows {
        let m = stored
            .iter()
            .find(|m| m["text"].as_str() == Some(body.as_str()))
            .unwrap_or_else(|| panic!("not stored: {body}"));
        let id = m["id"].as_i64().unwrap().to_string();
        let out = setup.run(&["label", &id, label, "--by", "tester"]);
        assert!(out.status.success(), "{}", text(&out));
    }
}

#[test]
fn the_daemon_retrains_on_corrections_uses_the_model_and_refuses_a_worse_one() {
    let dev = dev_rows();
    // 40 corrections of the team's own complaint plus 60 of the usual kinds: what a team's
    // first weeks give. Then 100 more whose labels are shifted by one class, contradicting
    // the first ones: careless corrections, which must not make the classifier worse.
    let good: Vec<(String, String)> = orange_light(30)
        .into_iter()
        .chain(dev[..70].iter().cloned())
        .collect();
    let noisy: Vec<(String, String)> = dev[70..170]
        .iter()
        .map(|(label, t)| {
            let i = LABELS.iter().position(|l| l == label).unwrap();
            (LABELS[(i + 1) % 4].to_string(), t.clone())
        })
        .collect();
    let entries: Vec<(String, String)> = good
        .iter()
        .chain(&noisy)
        .enumerate()
        .map(|(i, (_, t))| (format!("urn:test:m{i}"), t.clone()))
        .collect();
    let server = FeedServer::start();
    server.set("forum.xml", Reply::Feed(atom(&entries)));
    let setup = Setup::new(&format!(
        "[classifier]\nretrain_after = 100\n\n\
         [[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1s\"\nbackfill = \"3650d\"\n",
        server.url("forum.xml"),
    ));
    let log = setup.dir.path().join("daemon.log");
    let _daemon = KillOnDrop(
        setup
            .webcare()
            .arg("run")
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("the feed to be stored", || {
        setup.count(None) == entries.len() as i64
    });
    let stored = mentions(&setup);
    let read_log = || {
        let mut s = String::new();
        std::fs::File::open(&log)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        s
    };
    // No model of the team's yet: the start-up line says what classifies.
    let started = read_log();
    assert!(
        started.contains("classifier=lexicons + bundled model"),
        "{started}"
    );
    let lexicon_verdict = stored
        .iter()
        .find(|m| m["text"] == good[0].1)
        .unwrap()
        .clone();
    assert_eq!(lexicon_verdict["label"], "neutral", "{lexicon_verdict}");

    // 100 good corrections: a model is trained, scores better than the lexicons, and is used.
    label_all(&setup, &stored, &good);
    wait_for("a first model", || !models(&setup).is_empty());
    let first = models(&setup);
    assert!(first[0].1, "not in use: {first:?}\n{}", read_log());
    assert!(
        read_log().contains("retrained model is in use"),
        "{}",
        read_log()
    );
    // The pipeline takes the model up once its watches are compiled again with it.
    wait_for("the pipeline to use the model", || {
        read_log().contains("new mentions are classified with this model")
    });
    let listed = setup.run(&["model", "list"]);
    assert!(listed.status.success(), "{}", text(&listed));
    assert_said(&listed, "daemon");

    // A mention that arrives now is classified with the model, and so is a text given to
    // `classify` with this config.
    let fresh = "The Fjordlink box in the garage shows a blinking orange light since Sunday";
    let out = common::run_with_input(setup.webcare().arg("classify"), fresh.as_bytes());
    assert_said(&out, "\"label\":\"complaint\"");
    assert_said(&out, "\"kind\":\"model\"");
    let mut more = entries.clone();
    more.push(("urn:test:fresh".into(), fresh.into()));
    server.set("forum.xml", Reply::Feed(atom(&more)));
    wait_for("the new mention", || setup.count(None) == more.len() as i64);
    let row = mentions(&setup)
        .into_iter()
        .find(|m| m["text"] == fresh)
        .unwrap();
    assert_eq!(row["label"], "complaint", "{row}");
    assert!(row.to_string().contains("\"kind\":\"model\""), "{row}");

    // 100 contradicting corrections: the retrained model scores worse, is kept, not used.
    label_all(&setup, &stored, &noisy);
    wait_for("a second model", || models(&setup).len() == 2);
    let both = models(&setup);
    assert!(both[0].1 && !both[1].1, "{both:?}\n{}", read_log());
    assert!(both[1].2.starts_with("refused"), "{both:?}");
    assert!(
        read_log().contains("scores worse than the one in use"),
        "{}",
        read_log()
    );

    // Rolling back by hand: the daemon follows, and `model off` returns to the bundled model.
    let id = both[1].0.to_string();
    let out = setup.run(&["model", "use", &id]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for("the daemon to switch models", || {
        read_log().contains(&format!("model put in use model={id}"))
    });
    let out = setup.run(&["model", "off"]);
    assert!(out.status.success(), "{}", text(&out));
    // Logged once the new watches are in force, so the next poll is classified without it.
    wait_for("the daemon to drop the model", || {
        read_log().contains("no model in use: new mentions are classified with the bundled model")
    });
    let after = "The Fjordlink box in the loft shows a blinking orange light since noon";
    more.push(("urn:test:after".into(), after.into()));
    server.set("forum.xml", Reply::Feed(atom(&more)));
    wait_for("the last mention", || {
        setup.count(None) == more.len() as i64
    });
    let row = mentions(&setup)
        .into_iter()
        .find(|m| m["text"] == after)
        .unwrap();
    // Judged as the bundled model judges it: `classify` for the watch, with no model in use.
    let bundled = common::run_with_input(
        setup.webcare().args(["classify", "--watch", "Fjordlink"]),
        format!("{after}\n").as_bytes(),
    );
    let verdict: serde_json::Value = serde_json::from_slice(&bundled.stdout).unwrap();
    assert!(
        verdict.to_string().contains("\"kind\":\"model\""),
        "{verdict}"
    );
    assert_eq!(row["label"], verdict["label"], "{row}\n{verdict}");
    // The same words weigh in (the stored mention was judged with its title, so the
    // positions and weights differ a little).
    let words = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["text"].to_string())
            .collect()
    };
    assert_eq!(
        words(&row["verdict"]["reasons"]),
        words(&verdict["reasons"])
    );
}

#[test]
fn a_daemon_given_labelled_files_starts_with_a_model_trained_on_them() {
    // The team's own complaint of the orange light, labelled in a file with posts the
    // lexicons read right: the first model learns it before anyone corrects anything.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ours.tsv");
    let mut tsv = String::from("lang\tlabel\ttext\n");
    for (label, text) in orange_light(30)
        .into_iter()
        .chain(dev_rows().into_iter().take(170))
    {
        tsv.push_str(&format!("en\t{label}\t{text}\n"));
    }
    std::fs::write(&file, tsv).unwrap();
    let server = FeedServer::start();
    let light = "The Fjordlink box on the landing shows a blinking orange light since noon";
    server.set(
        "forum.xml",
        Reply::Feed(atom(&[("urn:test:light".to_string(), light.to_string())])),
    );
    let setup = Setup::new(&format!(
        "[classifier]\ntrain_from = [\"{}\"]\n\n\
         [[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\ninterval = \"1s\"\nbackfill = \"3650d\"\n",
        file.display(),
        server.url("forum.xml"),
    ));
    let _daemon = KillOnDrop(setup.webcare().arg("run").spawn().unwrap());
    wait_for("a first model", || !models(&setup).is_empty());
    let first = models(&setup);
    assert!(first[0].1, "not in use: {first:?}");
    let out = common::run_with_input(setup.webcare().arg("classify"), light.as_bytes());
    assert_said(&out, "\"label\":\"complaint\"");
    assert_said(&out, "\"kind\":\"model\"");
}
