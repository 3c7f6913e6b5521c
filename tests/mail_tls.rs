//! Alerts over STARTTLS with SMTP AUTH against a real server on loopback (mailin-embedded with a
//! self-signed leaf certificate that the config trusts through `mail.ca_file`).

mod common;

use std::net::TcpListener;
use std::process::Command;

use common::inbox::Inbox;
use common::{FeedServer, Setup, assert_said, text};
use mailin_embedded::SslConfig;

const PASSWORD: &str = "correct horse battery staple";

/// A leaf certificate for `localhost` (a CA certificate would be refused as an end entity).
fn certificate(dir: &std::path::Path) -> Option<(String, String)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args([
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .args([
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ])
        .output()
        .ok()?
        .status;
    status
        .success()
        .then(|| (cert.display().to_string(), key.display().to_string()))
}

fn setup(feed: &FeedServer, port: u16, cert: &str) -> Setup {
    let s = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nlang = \"nl\"\n\n\
         [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\nhost = \"localhost\"\nport = {port}\n\
         tls = \"starttls\"\nca_file = \"{cert}\"\nusername = \"webcare\"\npassword_env = \"WEBCARE_TEST_SMTP_PASSWORD\"\n\
         timeout = \"5s\"\nbatch_window = \"0s\"\n\n\
         [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n",
        feed.url("feed")
    ));
    feed.publish("feed", &[("urn:old", "Fjordlink opent een nieuwe winkel")]);
    s
}

#[test]
fn alerts_go_out_over_starttls_with_auth_and_a_wrong_password_holds_them_until_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = certificate(dir.path()) else {
        eprintln!("openssl is not installed here; skipping the STARTTLS test");
        return;
    };
    // Accepts AUTH PLAIN for user `webcare` with PASSWORD only, over STARTTLS.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Inbox::with_login("webcare", PASSWORD);
    inbox.serve_on(
        listener,
        Some(SslConfig::SelfSigned {
            cert_path: cert.clone(),
            key_path: key,
        }),
    );

    let feed = FeedServer::start();
    let s = setup(&feed, port, &cert);
    // `webcare <command>` with `password` as the SMTP password.
    let run = |command: &str, password: &str| {
        s.webcare()
            .arg(command)
            .env("WEBCARE_TEST_SMTP_PASSWORD", password)
            .output()
            .unwrap()
    };
    assert!(
        run("once", PASSWORD).status.success(),
        "the first poll is history"
    );
    feed.publish(
        "feed",
        &[
            (
                "urn:new",
                "Al drie dagen geen internet bij Fjordlink, niemand belt terug",
            ),
            ("urn:old", "Fjordlink opent een nieuwe winkel"),
        ],
    );
    let out = run("once", PASSWORD);
    assert!(out.status.success(), "{}", text(&out));
    let mails = inbox.raws();
    assert_eq!(mails.len(), 1, "{}", text(&out));
    assert!(mails[0].contains("Subject: [webcare]"), "{}", mails[0]);
    assert_eq!(inbox.logins(), ["webcare"]);
    assert!(!text(&out).contains(PASSWORD));

    feed.publish(
        "feed",
        &[
            (
                "urn:newer",
                "Fjordlink tv valt steeds uit, heel slecht, ik ben er klaar mee",
            ),
            (
                "urn:new",
                "Al drie dagen geen internet bij Fjordlink, niemand belt terug",
            ),
            ("urn:old", "Fjordlink opent een nieuwe winkel"),
        ],
    );
    // A refused login (535) is our configuration, not the alert's fault: the alert is held in
    // the outbox (never a dead letter), `once` exits 75, and it goes out once the password is
    // fixed.
    let out = run("once", "wrong password");
    assert!(!text(&out).contains("wrong password"), "{}", text(&out));
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert_said(&out, "mail paused: mail held");
    assert_said(&out, "535");
    assert_eq!(
        inbox.count(),
        1,
        "nothing is accepted with a wrong password"
    );
    let listed = run("outbox", PASSWORD);
    assert_said(&listed, "1 pending, 1 sent, 0 dead");
    let out = run("once", PASSWORD);
    assert!(out.status.success(), "{}", text(&out));
    let mails = inbox.raws();
    assert_eq!(mails.len(), 2, "the held alert goes out after the fix");
    assert!(mails[1].contains("tv valt steeds uit"), "{}", mails[1]);
    let listed = run("outbox", PASSWORD);
    assert_said(&listed, "0 pending, 2 sent, 0 dead");
}
