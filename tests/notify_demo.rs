//! The demo shows alerts: `webcare once` on config/demo.toml writes them as .eml files a person
//! can open.

mod common;

use common::{assert_said, text};

#[test]
fn the_demo_writes_alerts_a_person_can_open() {
    let dir = tempfile::tempdir().unwrap();
    let mail = dir.path().join("mail");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_webcare"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--config", "config/demo.toml", "once"])
        .env("WEBCARE__STORE__PATH", dir.path().join("demo.db"))
        .env("WEBCARE__MAIL__DIR", &mail)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let files: Vec<String> = std::fs::read_dir(&mail)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(files.len() >= 3, "{} files", files.len());
    let to_webcare = files
        .iter()
        .filter(|f| f.contains("To: webcare@fjordlink.example"))
        .count();
    let to_comms = files
        .iter()
        .filter(|f| f.contains("To: comms@fjordlink.example"))
        .count();
    assert!(to_webcare > 0 && to_comms > 0, "{to_webcare} / {to_comms}");
    assert!(
        files
            .iter()
            .any(|f| f.contains("Subject: [webcare] URGENT complaint")),
        "an urgent complaint is flagged in the subject"
    );
    // Non-urgent alerts for one recipient share an email ("[webcare] 12 alerts: ...").
    let alerts: usize = files
        .iter()
        .map(|f| {
            f.lines()
                .find_map(|l| l.strip_prefix("Subject: [webcare] "))
                .and_then(|s| {
                    // "[webcare] 12 alerts: …" or "[webcare] 3 urgent, 9 more: …"
                    if let Some((n, _)) = s.split_once(" alerts: ") {
                        return n.parse().ok();
                    }
                    let (u, rest) = s.split_once(" urgent")?;
                    let more = rest
                        .strip_prefix(", ")
                        .and_then(|r| r.split_once(" more: "))
                        .and_then(|(m, _)| m.parse::<usize>().ok())
                        .unwrap_or(0);
                    Some(u.parse::<usize>().ok()? + more)
                })
                .unwrap_or(1)
        })
        .sum();
    assert!(
        files.len() < alerts,
        "batched: {} files, {alerts} alerts",
        files.len()
    );
    assert_said(&out, &format!("sent {alerts}"));
}
