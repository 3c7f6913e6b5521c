//! The systemd unit in deploy/ is hardened as the README promises and runs commands that exist.

use std::path::Path;
use std::process::Command;

fn unit() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/webcare.service")
}

#[test]
fn the_unit_scores_two_or_lower_in_systemd_analyze_security() {
    let Ok(out) = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(unit())
        .output()
    else {
        eprintln!("systemd-analyze is not installed here; skipping the exposure check");
        return;
    };
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for webcare.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in the output:\n{text}"));
    assert!(score <= 2.0, "exposure {score} is above 2.0:\n{text}");
}

#[test]
fn the_unit_runs_the_daemon_with_notify_watchdog_reload_and_credentials() {
    let unit = std::fs::read_to_string(unit()).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "StateDirectory=webcare",
        "RestartPreventExitStatus=78",
        "LoadCredential=",
    ] {
        assert!(unit.contains(line), "{line} missing from the unit");
    }
    // The commands the unit runs are real subcommands.
    for args in [["run", "--help"], ["check-config", "--help"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_webcare"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
    }
    // The production example in deploy/ is a valid configuration.
    let out = Command::new(env!("CARGO_BIN_EXE_webcare"))
        .args(["--config", "deploy/webcare.toml", "check-config"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
