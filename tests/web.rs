//! The web inbox of a running daemon, over HTTP: sign-in and its rate limit, every page, every
//! action with its history, CSRF and session checks, GETs that try to act, and the one-click
//! links in the alert mails the file transport writes. Runs the demo configuration (offline
//! feeds under fixtures/demo/) in a temporary folder.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::http::{Answer, request};
use common::inbox::unqp;
use common::{TermOnDrop, assert_said, free_port, run_with_input, text};

/// The demo configuration, copied into a temporary folder with its database, mail folder and
/// listeners moved there; `web_extra` is added to the `[web]` section.
pub struct Demo {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub port: u16,
}

/// Copies the demo feeds into `dir` with every date moved forward by whole weeks, so that the
/// newest item lies within the past week whatever day the suite runs (weekdays stay right),
/// and points `config`'s sources at the copies. The demo's own files keep their dates.
fn shift_demo_feeds(config: &str, dir: &Path) -> String {
    use chrono::{DateTime, TimeDelta, Utc};
    let iso =
        regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})").unwrap();
    let rfc822 = regex::Regex::new(
        r"[A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} (?:[+-]\d{4}|GMT|UT)",
    )
    .unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let feeds: Vec<(String, String)> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("atom" | "rss")))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    let newest = feeds
        .iter()
        .flat_map(|(_, body)| {
            let a = iso
                .find_iter(body)
                .filter_map(|m| DateTime::parse_from_rfc3339(m.as_str()).ok());
            let b = rfc822
                .find_iter(body)
                .filter_map(|m| DateTime::parse_from_rfc2822(m.as_str()).ok());
            a.chain(b)
                .map(|d| d.with_timezone(&Utc))
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap();
    let shift = TimeDelta::weeks(((Utc::now() - newest).num_days() / 7).max(0));
    let mut config = config.to_string();
    for (name, body) in feeds {
        let body = iso.replace_all(&body, |c: &regex::Captures| {
            DateTime::parse_from_rfc3339(&c[0])
                .map(|d| (d + shift).to_rfc3339())
                .unwrap_or_else(|_| c[0].to_string())
        });
        let body = rfc822.replace_all(&body, |c: &regex::Captures| {
            DateTime::parse_from_rfc2822(&c[0])
                .map(|d| (d + shift).to_rfc2822())
                .unwrap_or_else(|_| c[0].to_string())
        });
        let copy = dir.join(&name);
        std::fs::write(&copy, body.as_bytes()).unwrap();
        config = config.replace(
            &format!("file://fixtures/demo/{name}"),
            &format!("file://{}", copy.display()),
        );
    }
    assert!(
        !config.contains("file://fixtures/demo/"),
        "a demo feed was not copied"
    );
    config
}

impl Demo {
    pub fn new(web_extra: &str) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let demo =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml"))
                .unwrap();
        let db = dir.path().join("webcare.db");
        let mail = dir.path().join("mail");
        let demo = demo
            .replace(
                "path = \"var/demo/webcare.db\"",
                &format!("path = \"{}\"", db.display()),
            )
            .replace(
                "dir = \"var/demo/mail\"",
                &format!("dir = \"{}\"", mail.display()),
            )
            .replace(
                "[web]\nlisten = \"127.0.0.1:8080\"\n",
                &format!("[web]\nlisten = \"127.0.0.1:{port}\"\n{web_extra}\n"),
            );
        assert!(
            demo.contains(&format!("127.0.0.1:{port}")),
            "demo.toml changed shape"
        );
        let demo = shift_demo_feeds(&demo, dir.path());
        let config = dir.path().join("demo.toml");
        std::fs::write(
            &config,
            format!("[admin]\nlisten = \"127.0.0.1:0\"\n\n{demo}"),
        )
        .unwrap();
        Demo { dir, config, port }
    }

    pub fn webcare(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_webcare"));
        c.current_dir(env!("CARGO_MANIFEST_DIR"))
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .env_remove("WEBCARE_CONFIG");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.webcare().args(args).output().unwrap()
    }

    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.dir.path().join("webcare.db")).unwrap()
    }

    /// The one value `sql` reads from the database with `params`.
    pub fn one<T: rusqlite::types::FromSql>(&self, sql: &str, params: impl rusqlite::Params) -> T {
        self.db().query_row(sql, params, |r| r.get(0)).unwrap()
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// Stores the demo feeds and writes their alerts (`webcare once`), then starts the daemon
    /// and waits until the inbox answers.
    pub fn start(&self) -> TermOnDrop {
        let out = self.run(&["once"]);
        assert!(out.status.success(), "{}", text(&out));
        self.start_daemon()
    }

    pub fn start_daemon(&self) -> TermOnDrop {
        let child = self
            .webcare()
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut daemon = TermOnDrop(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        // Ready when the sign-in page answers: any other answer on the port is not the inbox
        // (another test's server that took the port first), and a daemon that exited says why.
        while request(self.port, "GET", "/login", None, &[], &[]).is_none_or(|r| r.status != 200) {
            if let Ok(Some(status)) = daemon.0.try_wait() {
                panic!("the daemon exited with {status} before its web inbox answered");
            }
            assert!(Instant::now() < deadline, "the web inbox did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        daemon
    }

    /// Signs in and returns the session cookie (`name=value`).
    pub fn sign_in(&self, user: &str, password: &str) -> String {
        let a = request(
            self.port,
            "POST",
            "/login",
            None,
            &[("user", user), ("password", password), ("next", "/")],
            &[],
        )
        .unwrap();
        assert_eq!(a.status, 303, "{}", a.body);
        a.cookie().expect("a session cookie")
    }

    pub fn get(&self, path: &str, cookie: Option<&str>) -> Answer {
        request(self.port, "GET", path, cookie, &[], &[]).unwrap()
    }

    pub fn post(&self, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
        request(self.port, "POST", path, cookie, form, &[]).unwrap()
    }

    /// The id of one mention with `label` whose author has a handle.
    pub fn mention_with(&self, label: &str) -> i64 {
        self.one(
            "SELECT id FROM mentions WHERE label = ?1 AND coalesce(spam, 0) = 0
               AND author_handle IS NOT NULL AND answered_at IS NULL ORDER BY id LIMIT 1",
            [label],
        )
    }

    pub fn answered(&self, id: i64) -> Option<String> {
        self.one("SELECT answered_by FROM mentions WHERE id = ?1", [id])
    }

    /// Every one-click link in the alert mails, decoded from quoted-printable.
    pub fn mail_links(&self) -> Vec<String> {
        let mut links = Vec::new();
        for e in std::fs::read_dir(self.mail_dir()).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "eml") {
                let raw = std::fs::read_to_string(&path).unwrap();
                let plain = unqp(&raw);
                let prefix = format!("http://127.0.0.1:{}/m/", self.port);
                for word in plain.split_whitespace() {
                    if word.starts_with(&prefix) && !links.contains(&word.to_string()) {
                        links.push(word.to_string());
                    }
                }
            }
        }
        links
    }
}

#[test]
fn pages_need_a_session_and_show_the_inbox_wall_and_sources() {
    let demo = Demo::new("");
    let _daemon = demo.start();

    // No session: every page sends to the sign-in page, which comes back to the page asked for.
    for (path, back) in [
        ("/", "%2F"),
        ("/wall", "%2Fwall"),
        ("/sources", "%2Fsources"),
        ("/m/1", "%2Fm%2F1"),
        ("/?label=praise&page=2", "%2F%3Flabel%3Dpraise%26page%3D2"),
        (
            "/m/1?do=claim&exp=1&sig=ab",
            "%2Fm%2F1%3Fdo%3Dclaim%26exp%3D1%26sig%3Dab",
        ),
    ] {
        let a = demo.get(path, None);
        assert_eq!(a.status, 303, "{path}");
        assert_eq!(
            a.header("location"),
            Some(format!("/login?next={back}").as_str()),
            "{path}"
        );
    }
    let login = demo.get("/login?next=/wall", None);
    assert_eq!(login.status, 200);
    assert!(login.body.contains("name=\"next\" value=\"/wall\""));

    // A wrong password is refused; the demo user signs in with an HttpOnly, SameSite cookie.
    let wrong = demo.post("/login", None, &[("user", "demo"), ("password", "nope")]);
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("do not match"));
    assert!(wrong.cookie().is_none());
    let ok = demo.post(
        "/login",
        None,
        &[("user", "demo"), ("password", "demo"), ("next", "/wall")],
    );
    assert_eq!(ok.status, 303);
    assert_eq!(ok.header("location"), Some("/wall"));
    let set = ok.header("set-cookie").unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = ok.cookie().unwrap();
    // A session cookie that was changed is no session.
    let forged = cookie.replacen("demo.", "admin.", 1);
    assert_eq!(demo.get("/", Some(&forged)).status, 303);

    // The inbox: open complaints and questions only, urgent first.
    let inbox = demo.get("/", Some(&cookie));
    assert_eq!(inbox.status, 200);
    let open: i64 = demo.one(
        "SELECT count(*) FROM mentions WHERE label IN ('complaint', 'question')
               AND answered_at IS NULL AND coalesce(spam, 0) = 0",
        [],
    );
    assert!(open > 5, "the demo has open complaints");
    assert_eq!(inbox.by_id("count").unwrap(), format!("1–{}", open.min(50)));
    assert_eq!(
        inbox.body.matches("<li class=\"row").count() as i64,
        open.min(50)
    );
    assert!(
        !inbox.body.contains("class=\"label praise\""),
        "praise is not open work"
    );
    let first_urgent = inbox.body.find("row urgent");
    let first_normal = inbox.body.find("<li class=\"row\"");
    if let (Some(u), Some(n)) = (first_urgent, first_normal) {
        assert!(u < n, "urgent rows come first");
    }
    assert!(inbox.header("content-security-policy").is_some());
    // The demo's sources give no star ratings, so there is no filter for them.
    assert!(!inbox.body.contains("name=\"stars\""));

    // Filters: label, source, full-text search, and a search the index cannot parse.
    let praise = demo.get("/?status=all&label=praise", Some(&cookie));
    assert_eq!(praise.status, 200);
    assert!(praise.body.contains("class=\"label praise\""));
    assert!(!praise.body.contains("class=\"label complaint\""));
    let forum = demo.get("/?status=all&source=forum-en", Some(&cookie));
    assert!(forum.body.contains("forum-en"));
    assert!(!forum.body.contains("nieuws-nl</span>"));
    let searched = demo.get("/?status=all&q=fjordbox", Some(&cookie));
    let n = searched.body.matches("<li class=\"row").count();
    let out = demo.run(&["mentions", "--query", "fjordbox", "--json"]);
    assert_eq!(n, String::from_utf8_lossy(&out.stdout).lines().count());
    assert!(n > 0);
    let bad = demo.get("/?status=all&q=%22unclosed", Some(&cookie));
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("invalid full-text query"), "{}", bad.body);
    assert_eq!(demo.get("/?since=yesterday", Some(&cookie)).status, 400);

    // The mention page: full text, answer link, reasons, route and alerts.
    let id = demo.mention_with("complaint");
    let page = demo.get(&format!("/m/{id}"), Some(&cookie));
    assert_eq!(page.status, 200);
    let text: String = demo.one("SELECT text FROM mentions WHERE id = ?1", [id]);
    let first_words: String = text.chars().take(20).collect();
    assert!(
        page.body.contains(&html_escape(&first_words)),
        "{first_words}"
    );
    assert!(page.body.contains("id=\"answer-link\""));
    assert!(page.body.contains("Why the classifier thinks so"));
    assert!(
        page.body
            .contains("rule “complaints and questions to webcare”")
    );
    assert!(page.body.contains("webcare@fjordlink.example"));
    assert_eq!(page.by_id("stars"), None, "a post has no stars");
    assert_eq!(demo.get("/m/999999", Some(&cookie)).status, 404);

    // A review shows its stars on its page and in the list.
    let db = demo.db();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db.execute("UPDATE mentions SET rating = 1 WHERE id = ?1", [id])
        .unwrap();
    let page = demo.get(&format!("/m/{id}"), Some(&cookie));
    assert_eq!(page.by_id("stars").as_deref(), Some("★☆☆☆☆ 1 of 5 stars"));
    // (The open work of the demo fits on the first page.)
    let listed = demo.get("/", Some(&cookie));
    assert!(
        listed
            .body
            .contains("<span class=\"stars\">★☆☆☆☆ 1 of 5 stars</span>"),
        "{}",
        listed.body
    );

    // The wall shows praise, the sources page every source and the outbox.
    let wall = demo.get("/wall", Some(&cookie));
    assert_eq!(wall.status, 200);
    assert!(wall.body.contains("http-equiv=\"refresh\""));
    let praise_count: i64 = demo.one(
        "SELECT count(*) FROM mentions WHERE label = 'praise' AND coalesce(spam, 0) = 0",
        [],
    );
    assert_eq!(
        wall.body.matches("<figure class=\"praise").count() as i64,
        praise_count.min(12)
    );
    let sources = demo.get("/sources", Some(&cookie));
    for s in ["nieuws-nl", "forum-en", "google-alerts-da", "reviews"] {
        assert!(sources.body.contains(&format!("<td>{s}</td>")), "{s}");
    }
    assert!(sources.by_id("outbox").unwrap().contains("pending"));
    assert_eq!(demo.get("/style.css", None).status, 200);

    // Signing out needs the token too, and ends the session cookie.
    let out = demo.post("/logout", Some(&cookie), &[("csrf", &inbox.csrf())]);
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[test]
fn actions_need_the_session_token_and_are_recorded_with_the_user() {
    let demo = Demo::new("");
    let _daemon = demo.start();
    let cookie = demo.sign_in("demo", "demo");
    let id = demo.mention_with("complaint");
    let path = format!("/m/{id}");
    let page = demo.get(&path, Some(&cookie));
    let csrf = page.csrf();

    // A forged token, no session, or a GET that tries to act: nothing changes.
    let forged = demo.post(
        &path,
        Some(&cookie),
        &[("csrf", "00ff"), ("action", "answered")],
    );
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("security token"));
    let anonymous = demo.post(&path, None, &[("csrf", &csrf), ("action", "answered")]);
    assert_eq!(anonymous.status, 303);
    assert!(anonymous.header("location").unwrap().starts_with("/login"));
    let get = demo.get(
        &format!("{path}?do=answered&action=answered"),
        Some(&cookie),
    );
    assert_eq!(get.status, 403, "an unsigned link pre-selects nothing");
    assert!(get.by_id("link-problem").is_some());
    assert_eq!(
        demo.get(&format!("{path}/answered"), Some(&cookie)).status,
        404
    );
    assert_eq!(demo.answered(id), None);

    // Claim, answer, undo, answer again.
    let act = |form: &[(&str, &str)]| {
        let mut f = vec![("csrf", csrf.as_str())];
        f.extend_from_slice(form);
        let a = demo.post(&path, Some(&cookie), &f);
        assert_eq!(a.status, 303, "{form:?}: {}", a.body);
        a
    };
    act(&[("action", "claim")]);
    let claimed = demo.get("/", Some(&cookie));
    assert!(claimed.body.contains("claimed by demo"));
    act(&[("action", "answered")]);
    assert_eq!(demo.answered(id).as_deref(), Some("demo"));
    let open = demo.get("/", Some(&cookie));
    assert!(
        !open.body.contains(&format!("href=\"/m/{id}\"")),
        "answered leaves the open inbox"
    );
    act(&[("action", "unanswered")]);
    assert_eq!(demo.answered(id), None);
    act(&[("action", "answered")]);

    // Correcting the label goes where `webcare label` puts it, so the training export has it.
    act(&[("action", "label"), ("label", "praise")]);
    let (label, source): (String, String) = demo
        .db()
        .query_row(
            "SELECT label, label_source FROM mentions WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((label.as_str(), source.as_str()), ("praise", "staff"));
    let by: String = demo.one(
        "SELECT corrected_by FROM label_corrections WHERE mention_id = ?1",
        [id],
    );
    assert_eq!(by, "demo");
    let export = demo.run(&["label", "--export"]);
    assert_eq!(String::from_utf8_lossy(&export.stdout).lines().count(), 2);
    let bad = demo.post(
        &path,
        Some(&cookie),
        &[("csrf", &csrf), ("action", "label"), ("label", "angry")],
    );
    assert_eq!(bad.status, 400);
    let bad = demo.post(
        &path,
        Some(&cookie),
        &[("csrf", &csrf), ("action", "delete")],
    );
    assert_eq!(bad.status, 400);

    // Do not contact: the same list `webcare optout` keeps.
    act(&[("action", "optout")]);
    let list = text(&demo.run(&["optout", "list"]));
    assert!(list.contains("added") && list.contains("by demo"), "{list}");
    assert!(
        demo.get(&path, Some(&cookie))
            .body
            .contains("DO NOT CONTACT")
    );

    // Spam takes a mention out of the open inbox.
    let other_id = demo.mention_with("complaint");
    assert_ne!(other_id, id);
    let other_path = format!("/m/{other_id}");
    let a = demo.post(
        &other_path,
        Some(&cookie),
        &[("csrf", &csrf), ("action", "spam")],
    );
    assert_eq!(a.status, 303);
    assert!(
        !demo
            .get("/", Some(&cookie))
            .body
            .contains(&format!("href=\"{other_path}\""))
    );

    // The history says who did what, in order.
    let page = demo.get(&format!("{path}?done=optout"), Some(&cookie));
    assert!(page.by_id("done").is_some());
    let history = &page.body[page.body.find("id=\"history\"").unwrap()..];
    let actions: Vec<&str> = history
        .split("<li><b>")
        .skip(1)
        .map(|li| li.split('<').next().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "claim",
            "answered",
            "unanswered",
            "answered",
            "label",
            "optout"
        ]
    );
    assert!(history.contains("(complaint → praise)"), "{history}");
    assert!(history.contains("by demo"));
}

#[test]
fn one_click_links_in_alert_mails_preselect_only_when_signed_and_fresh() {
    let demo = Demo::new("");
    let _daemon = demo.start();
    let links = demo.mail_links();
    let prefix = format!("http://127.0.0.1:{}", demo.port);
    let id_of = |path: &str| -> i64 { path[3..path.find('?').unwrap()].parse().unwrap() };
    // A mention nobody answered yet: the demo's forum has some the brand answered itself.
    let answered = links
        .iter()
        .filter(|l| l.contains("do=answered"))
        .find(|l| {
            demo.answered(id_of(l.trim_start_matches(&prefix)))
                .is_none()
        })
        .expect("alert mails carry one-click links")
        .clone();
    let path = answered.trim_start_matches(&prefix);
    let id = id_of(path);

    // Without a session the link leads to sign-in, and back to the same link after.
    let a = demo.get(path, None);
    assert_eq!(a.status, 303);
    let next = a.header("location").unwrap().to_string();
    assert!(next.contains("do%3Danswered"), "{next}");
    let cookie = demo.sign_in("demo", "demo");

    // Signed and fresh: the action is pre-selected, and nothing has changed.
    let page = demo.get(path, Some(&cookie));
    assert_eq!(page.status, 200);
    assert!(page.by_id("preselected").unwrap().contains("Mark answered"));
    assert!(page.body.contains("class=\"preselected\""));
    assert_eq!(demo.answered(id), None, "a GET never acts");

    // Changed (another action, another mention, a later expiry): nothing pre-selected.
    for tampered in [
        path.replace("do=answered", "do=spam"),
        // Another mention that exists: the one before, or after the first.
        path.replacen(
            &format!("/m/{id}?"),
            &format!("/m/{}?", if id > 1 { id - 1 } else { id + 1 }),
            1,
        ),
        path.replace("&exp=", "&exp=9"),
    ] {
        let page = demo.get(&tampered, Some(&cookie));
        assert_eq!(page.status, 403, "{tampered}");
        assert!(page.by_id("preselected").is_none());
        assert!(page.by_id("link-problem").unwrap().contains("was changed"));
    }
    // Confirming on the page is the POST that acts.
    let a = demo.post(
        &format!("/m/{id}"),
        Some(&cookie),
        &[("csrf", &page.csrf()), ("action", "answered")],
    );
    assert_eq!(a.status, 303);
    assert_eq!(demo.answered(id).as_deref(), Some("demo"));
}

#[test]
fn an_expired_one_click_link_preselects_nothing() {
    let demo = Demo::new("link_ttl = \"1s\"");
    let _daemon = demo.start();
    let link = demo
        .mail_links()
        .into_iter()
        .find(|l| l.contains("do=claim"))
        .unwrap();
    let path = link
        .trim_start_matches(&format!("http://127.0.0.1:{}", demo.port))
        .to_string();
    let cookie = demo.sign_in("demo", "demo");
    std::thread::sleep(Duration::from_millis(2100));
    let page = demo.get(&path, Some(&cookie));
    assert_eq!(page.status, 410);
    assert!(page.by_id("link-problem").unwrap().contains("expired"));
    assert!(page.by_id("preselected").is_none());
}

#[test]
fn sign_in_is_rate_limited_per_address() {
    let demo = Demo::new("");
    let _daemon = demo.start_daemon();
    for _ in 0..5 {
        let a = demo.post("/login", None, &[("user", "demo"), ("password", "guess")]);
        assert_eq!(a.status, 401);
    }
    // Even the right password waits now.
    let a = demo.post("/login", None, &[("user", "demo"), ("password", "demo")]);
    assert_eq!(a.status, 429);
    assert!(a.header("retry-after").is_some());
    assert!(a.body.contains("Too many failed sign-ins"));
}

#[test]
fn a_trusted_proxy_header_signs_in_only_from_the_proxy_addresses() {
    // The inbox as `anna` asks it through a proxy header, with the proxy at `proxy`.
    let as_anna_behind = |proxy: &str| {
        let demo = Demo::new(&format!(
            "trusted_header = \"X-Forwarded-User\"\ntrusted_proxies = [\"{proxy}\"]"
        ));
        let _daemon = demo.start_daemon();
        request(
            demo.port,
            "GET",
            "/",
            None,
            &[],
            &[("X-Forwarded-User", "anna")],
        )
        .unwrap()
    };
    let a = as_anna_behind("127.0.0.1");
    assert_eq!(a.status, 200);
    assert!(a.body.contains("<span class=\"who\">anna</span>"));
    let a = as_anna_behind("10.0.0.1");
    assert_eq!(a.status, 303, "the header is ignored from other addresses");
}

#[test]
fn check_config_refuses_the_demo_user_off_loopback() {
    let demo = Demo::new("");
    let config = std::fs::read_to_string(&demo.config).unwrap().replace(
        &format!("listen = \"127.0.0.1:{}\"", demo.port),
        "listen = \"0.0.0.0:8080\"\nbehind_tls_proxy = true",
    );
    std::fs::write(&demo.config, config).unwrap();
    let out = demo.run(&["check-config"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert_said(&out, "web.users.demo");
    assert_said(&out, "webcare user add demo");
}

#[test]
fn user_add_prints_a_line_that_signs_in() {
    let out = run_with_input(
        Command::new(env!("CARGO_BIN_EXE_webcare")).args(["user", "add", "anna"]),
        b"anna's long password\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let line = stdout.lines().find(|l| l.starts_with("anna = ")).unwrap();
    assert!(line.contains("$argon2id$"), "{line}");
    assert!(!stdout.contains("long password"));

    let demo = Demo::new("");
    let config = std::fs::read_to_string(&demo.config)
        .unwrap()
        .replace("[web.users]\n", &format!("[web.users]\n{line}\n"));
    std::fs::write(&demo.config, config).unwrap();
    let _daemon = demo.start_daemon();
    demo.sign_in("anna", "anna's long password");
    let bad = Command::new(env!("CARGO_BIN_EXE_webcare"))
        .args(["user", "add", "bad name"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn a_missed_first_response_target_is_escalated_once_across_a_restart() {
    let demo = Demo::new("");
    let config = std::fs::read_to_string(&demo.config).unwrap().replace(
        "name = \"webcare\"\nemails = [\"webcare@fjordlink.example\"]\n",
        "name = \"webcare\"\nemails = [\"webcare@fjordlink.example\"]\nsla = \"3s\"\nescalate_to = [\"lead@fjordlink.example\"]\n",
    );
    assert!(config.contains("sla = \"3s\""));
    std::fs::write(&demo.config, config).unwrap();
    let out = demo.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    // One complaint was answered a second after it was found: it met the target.
    let answered = demo.mention_with("complaint");
    demo.db()
        .execute(
            "UPDATE mentions SET answered_at = fetched_at + 1, answered_by = 'anna' WHERE id = ?1",
            [answered],
        )
        .unwrap();
    let open: Vec<i64> = {
        let db = demo.db();
        let mut st = db
            .prepare(
                "SELECT id FROM mentions WHERE label IN ('complaint', 'question') AND answered_at IS NULL
                   AND coalesce(spam, 0) = 0 AND route LIKE '%\"team\":\"webcare\"%' ORDER BY id",
            )
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert!(open.len() > 3, "{open:?}");
    let escalations = || -> (Vec<i64>, i64) {
        let db = demo.db();
        let mut st = db
            .prepare(
                "SELECT mention_id FROM outbox WHERE kind = 'escalation' AND recipient = 'lead@fjordlink.example'
                 ORDER BY mention_id",
            )
            .unwrap();
        let ids = st
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let sent = demo.one(
            "SELECT count(*) FROM outbox WHERE kind = 'escalation' AND state = 'sent'",
            [],
        );
        (ids, sent)
    };
    let daemon = demo.start_daemon();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ids, sent) = escalations();
        if ids.len() == open.len() && sent == open.len() as i64 {
            assert_eq!(ids, open);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "escalated {ids:?}, sent {sent}, open {open:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!escalations().0.contains(&answered));
    let cookie = demo.sign_in("demo", "demo");
    assert!(demo.get("/", Some(&cookie)).body.contains("SLA missed by"));
    drop(daemon);

    // After a restart nothing is escalated again, and each went out as one mail.
    let _daemon = demo.start_daemon();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(escalations().0, open);
    let mut mails = 0;
    for e in std::fs::read_dir(demo.mail_dir()).unwrap() {
        let raw = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
        if raw.contains("lead@fjordlink.example") && raw.contains("SLA missed") {
            mails += 1;
        }
    }
    assert_eq!(mails, open.len());
}

/// The same inbox in a real browser: headless Chromium driven over WebDriver (chromedriver),
/// with a screenshot of each page under `target/web-screenshots/`. Skips, saying so, when
/// chromium or chromedriver is not installed (`.ci/run` installs both).
mod browser {
    use super::*;
    use serde_json::{Value, json};

    const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

    fn find_program(names: &[&str]) -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
            .find(|p| p.is_file())
    }

    /// Sends a WebDriver request and reads its JSON answer, whatever it says.
    async fn answer(request: reqwest::RequestBuilder) -> Value {
        request.send().await.unwrap().json().await.unwrap()
    }

    /// A chromedriver process and one browser session in it; both end when dropped.
    struct Browser {
        http: reqwest::Client,
        session: String,
        driver: Child,
        _profile: tempfile::TempDir,
        shots: PathBuf,
    }

    impl Drop for Browser {
        fn drop(&mut self) {
            let _ = self.driver.kill();
            let _ = self.driver.wait();
        }
    }

    impl Browser {
        async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
            let port = free_port();
            // The clock-ahead CI stage preloads libfaketime into every test; the daemon's clock
            // is the one under test, and chromium started under it is slow to come up.
            let driver = Command::new(chromedriver)
                .env_remove("LD_PRELOAD")
                .env_remove("FAKETIME")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let http = reqwest::Client::new();
            let base = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(20);
            while http.get(format!("{base}/status")).send().await.is_err() {
                assert!(Instant::now() < deadline, "chromedriver did not start");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let profile = tempfile::tempdir().unwrap();
            let caps = json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium.display().to_string(),
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                        format!("--user-data-dir={}", profile.path().display()),
                    ]
                }
            }}});
            // A loaded machine sometimes misses chromedriver's start-up deadline ("chrome not
            // reachable"); a second try gets a browser.
            let mut tries = 0;
            let session = loop {
                tries += 1;
                let r = answer(http.post(format!("{base}/session")).json(&caps)).await;
                match r["value"]["sessionId"].as_str() {
                    Some(id) => break id.to_string(),
                    None if tries < 3 => eprintln!("no WebDriver session yet, trying again: {r}"),
                    None => panic!("no WebDriver session: {r}"),
                }
            };
            let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
                .parent()
                .unwrap()
                .join("web-screenshots");
            std::fs::create_dir_all(&shots).unwrap();
            Browser {
                http,
                session: format!("{base}/session/{session}"),
                driver,
                _profile: profile,
                shots,
            }
        }

        async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
            let mut req = self
                .http
                .request(method.clone(), format!("{}{path}", self.session));
            if method == reqwest::Method::POST {
                req = req.json(&body);
            }
            let r = answer(req).await;
            if r["value"].get("error").is_some() {
                panic!("WebDriver {path}: {}", r["value"]);
            }
            r["value"].clone()
        }

        /// The text of the first element matching `css` once `want` holds for it, or the last
        /// text seen after 15 s. An action's form posts and the page reloads after the click
        /// returns, so the old page (or a stale element) may answer first.
        async fn text_when(&self, css: &str, want: impl Fn(&str) -> bool) -> String {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            let mut last = String::new();
            loop {
                if let Some(e) = self.find_all(css).await.into_iter().next() {
                    let text = format!("{}/element/{e}/text", self.session);
                    let r = answer(self.http.get(text)).await;
                    if let Some(t) = r["value"].as_str() {
                        last = t.to_string();
                        if want(&last) {
                            return last;
                        }
                    }
                }
                if std::time::Instant::now() > deadline {
                    return last;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }

        async fn go(&self, url: &str) {
            self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
                .await;
        }

        async fn url(&self) -> String {
            self.call(reqwest::Method::GET, "/url", Value::Null)
                .await
                .as_str()
                .unwrap()
                .to_string()
        }

        /// The page's address once `want` holds for it (a click that submits a form returns
        /// before the next page has loaded), or the last address seen after 15 s.
        async fn url_when(&self, want: impl Fn(&str) -> bool) -> String {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
            loop {
                let url = self.url().await;
                if want(&url) || std::time::Instant::now() > deadline {
                    return url;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }

        async fn find_all(&self, css: &str) -> Vec<String> {
            self.call(
                reqwest::Method::POST,
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[ELEMENT].as_str().unwrap().to_string())
            .collect()
        }

        /// The first element matching `css`, waiting up to 10 s for the page to show one.
        async fn find(&self, css: &str) -> String {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            loop {
                if let Some(e) = self.find_all(css).await.into_iter().next() {
                    return e;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "no element {css} in WebDriver session {}",
                    self.session
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }

        async fn click(&self, css: &str) {
            let e = self.find(css).await;
            self.call(
                reqwest::Method::POST,
                &format!("/element/{e}/click"),
                json!({}),
            )
            .await;
        }

        async fn type_into(&self, css: &str, text: &str) {
            let e = self.find(css).await;
            self.call(
                reqwest::Method::POST,
                &format!("/element/{e}/value"),
                json!({ "text": text }),
            )
            .await;
        }

        async fn text(&self, css: &str) -> String {
            let e = self.find(css).await;
            self.call(
                reqwest::Method::GET,
                &format!("/element/{e}/text"),
                Value::Null,
            )
            .await
            .as_str()
            .unwrap()
            .to_string()
        }

        async fn screenshot(&self, name: &str) {
            use base64::Engine as _;
            let data = self
                .call(reqwest::Method::GET, "/screenshot", Value::Null)
                .await;
            let png = base64::engine::general_purpose::STANDARD
                .decode(data.as_str().unwrap())
                .unwrap();
            assert!(png.starts_with(b"\x89PNG"));
            std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
        }
    }

    #[test]
    fn an_agent_works_the_inbox_with_the_mouse() {
        let (Some(chromium), Some(chromedriver)) = (
            find_program(&["chromium", "chromium-browser", "google-chrome"]),
            find_program(&["chromedriver"]),
        ) else {
            println!(
                "SKIPPED: the browser test needs chromium and chromedriver on PATH \
                 (Debian: apt-get install chromium chromium-driver)"
            );
            return;
        };
        let demo = Demo::new("");
        let _daemon = demo.start();
        let base = format!("http://127.0.0.1:{}", demo.port);
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let b = Browser::start(&chromium, &chromedriver).await;

            // Sign in: the inbox sends a stranger to the sign-in page first.
            b.go(&format!("{base}/")).await;
            assert!(b.url().await.contains("/login?next="), "{}", b.url().await);
            b.screenshot("1-login").await;
            b.type_into("#user", "demo").await;
            b.type_into("#password", "demo").await;
            b.click("#signin").await;
            let home = format!("{base}/");
            assert_eq!(b.url_when(|u| u == home).await, home);
            assert!(b.text("#count").await.starts_with("1–"));
            b.screenshot("2-inbox").await;

            // Filter to questions.
            b.click("select[name=label] option[value=question]").await;
            b.click("#filter").await;
            let url = b.url_when(|u| u.contains("label=question")).await;
            assert!(url.contains("label=question"), "{url}");
            let labels = b.find_all("li.row .label").await;
            assert!(!labels.is_empty(), "the demo has open questions");
            for e in &labels {
                let t = b
                    .call(
                        reqwest::Method::GET,
                        &format!("/element/{e}/text"),
                        Value::Null,
                    )
                    .await;
                assert_eq!(t.as_str().unwrap().to_lowercase(), "question");
            }
            b.screenshot("3-inbox-questions").await;

            // Open the first one, mark it answered, correct its label.
            b.click("li.row a.rowlink").await;
            let url = b.url_when(|u| u.contains("/m/")).await;
            assert!(url.contains("/m/"), "{url}");
            let id: i64 = url.rsplit('/').next().unwrap().parse().unwrap();
            b.screenshot("4-mention").await;
            b.click("#act-answered").await;
            let answered = b.text_when("#answered", |t| t.starts_with("demo, ")).await;
            assert!(answered.starts_with("demo, "), "{answered}");
            assert_eq!(demo.answered(id).as_deref(), Some("demo"));
            b.click("#label-select option[value=complaint]").await;
            b.click("#act-label").await;
            let label = b
                .text_when("#label", |t| t.to_lowercase().starts_with("complaint"))
                .await;
            assert!(label.to_lowercase().starts_with("complaint"), "{label}");
            let history = b
                .text_when("#history", |t| t.contains("by demo") && t.contains("→"))
                .await;
            assert!(history.contains("answered by demo"), "{history}");
            assert!(
                history.contains("label (question → complaint) by demo"),
                "{history}"
            );
            b.screenshot("5-mention-answered-relabelled").await;

            // Follow a one-click link from an alert mail the file transport wrote.
            let link = demo
                .mail_links()
                .into_iter()
                .find(|l| l.contains("do=claim"))
                .expect("alert mails with one-click links");
            b.go(&link).await;
            assert!(b.text("#preselected").await.contains("Claim"));
            b.screenshot("6-one-click-claim").await;
            b.click("form.preselected button").await;
            let claimed = b.text_when("#claimed", |t| t.starts_with("demo, ")).await;
            assert!(claimed.starts_with("demo, "), "{claimed}");

            // The praise wall and the sources page.
            b.go(&format!("{base}/wall")).await;
            assert!(!b.find_all("figure.praise").await.is_empty());
            b.screenshot("7-wall").await;
            b.go(&format!("{base}/sources")).await;
            assert!(b.text("#outbox").await.contains("pending"));
            b.screenshot("8-sources").await;
            println!("screenshots in {}", b.shots.display());
        });
    }
}

#[test]
fn sighup_reloads_web_users_and_moves_the_listener_keeping_sessions() {
    let demo = Demo::new("");
    let log_path = demo.dir.path().join("daemon.log");
    let daemon = TermOnDrop(
        demo.webcare()
            .arg("run")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let reloads = || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .matches("web inbox reloaded")
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while request(demo.port, "GET", "/login", None, &[], &[]).is_none() {
        assert!(Instant::now() < deadline, "the web inbox did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let cookie = demo.sign_in("demo", "demo");
    let refused = demo.post(
        "/login",
        None,
        &[
            ("user", "bo"),
            ("password", "bo's long password"),
            ("next", "/"),
        ],
    );
    assert_ne!(refused.status, 303, "an unknown user signed in");

    let out = run_with_input(
        Command::new(env!("CARGO_BIN_EXE_webcare")).args(["user", "add", "bo"]),
        b"bo's long password\n",
    );
    let line = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("bo = "))
        .unwrap()
        .to_string();
    let config = std::fs::read_to_string(&demo.config)
        .unwrap()
        .replace("[web.users]\n", &format!("[web.users]\n{line}\n"));
    std::fs::write(&demo.config, &config).unwrap();
    let hangup = || {
        Command::new("kill")
            .args(["-HUP", &daemon.0.id().to_string()])
            .status()
            .unwrap()
    };
    hangup();
    // Sign-in attempts are rate-limited, so wait for the reload before trying.
    let deadline = Instant::now() + Duration::from_secs(20);
    while reloads() < 1 {
        assert!(Instant::now() < deadline, "the web inbox was not reloaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    demo.sign_in("bo", "bo's long password");
    // Sessions are signed with the same key: nobody is signed out by a reload.
    assert_eq!(demo.get("/", Some(&cookie)).status, 200);

    // A new address is bound, and the old one closes.
    let moved = free_port();
    std::fs::write(
        &demo.config,
        config.replace(
            &format!("listen = \"127.0.0.1:{}\"", demo.port),
            &format!("listen = \"127.0.0.1:{moved}\""),
        ),
    )
    .unwrap();
    hangup();
    let deadline = Instant::now() + Duration::from_secs(20);
    while request(moved, "GET", "/login", None, &[], &[]).is_none() {
        assert!(
            Instant::now() < deadline,
            "the inbox never moved to {moved}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        request(moved, "GET", "/", Some(&cookie), &[], &[])
            .unwrap()
            .status,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while request(demo.port, "GET", "/login", None, &[], &[]).is_some() {
        assert!(Instant::now() < deadline, "the old address still answers");
        std::thread::sleep(Duration::from_millis(100));
    }
}
