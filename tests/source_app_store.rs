//! End to end: the `webcare` binary reads a fake App Store review feed on 127.0.0.1 and stores
//! each review once, with its star rating.

mod common;

use common::http::request;
use common::inbox::{Inbox, plain, unqp};
use common::platform::Daemon;

#[tokio::test(flavor = "multi_thread")]
async fn once_stores_reviews_with_their_stars_exactly_once() {
    let (_server, daemon) = Daemon::first_poll("app_store").await;
    let worst = daemon.stored_by_id("nl:12648830011");
    assert_eq!(worst["rating"], 1);
    assert_eq!(worst["title"], "Inloggen lukt niet meer");
    let good = daemon.stored_by_id("nl:12648801277");
    assert_eq!(good["rating"], 4);
    // One or two stars reach the classifier as complaint evidence.
    assert_eq!(worst["label"], "complaint", "{worst}");
    let slow = daemon.stored_by_id("nl:12631907744");
    assert_eq!(slow["rating"], 2);
    assert_eq!(slow["label"], "complaint", "{slow}");

    daemon.once_stores(0);
    daemon.state_ok("app_store");

    // The bad reviews, for a script or a quick look: `mentions --stars`.
    let out = daemon.webcare(&["mentions", "--stars", "1-2", "--json"]);
    let mut ratings: Vec<i64> = common::text(&out)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["rating"]
                .as_i64()
                .unwrap()
        })
        .collect();
    ratings.sort();
    assert_eq!(ratings, [1, 2]);
    let listed = common::text(&daemon.webcare(&["mentions", "--stars", "1"]));
    assert!(listed.contains("complaint ★☆☆☆☆ 1 of 5 stars"), "{listed}");
    let out = daemon.webcare(&["mentions", "--stars", "0-3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::text(&out).contains("\"0-3\" is not a number of stars from 1 to 5"),
        "{out:?}"
    );

    let out = daemon.webcare(&["sources"]);
    assert!(
        common::text(&out).contains("app_store"),
        "{}",
        common::text(&out)
    );
}

/// Low-star reviews go to the app team by a `stars_max` rule, and the agent sees how many stars
/// a review gave before reading a word of it: beside the platform in the alert card and in the
/// text part, through the real binary and a real SMTP server.
#[tokio::test(flavor = "multi_thread")]
async fn one_and_two_star_reviews_alert_the_app_team_showing_their_stars() {
    let e2e = common::fakes::E2e::load("app_store");
    let server = e2e.start().await;
    let inbox = Inbox::default();
    let port = inbox.serve();
    // The reviews come in with the first poll (backfill), so the rule takes backfill in.
    let daemon = Daemon::new(&format!(
        "{}\n[mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\nhost = \"127.0.0.1\"\n\
         port = {port}\ntls = \"none\"\nbatch_window = \"0s\"\n\n\
         [[teams]]\nname = \"apps\"\nemails = [\"apps@fjordlink.example\"]\n\n\
         [[routes]]\nname = \"bad reviews\"\nstars_max = 2\ninclude_backfill = true\nteam = \"apps\"\n",
        e2e.source(&server.uri(), "1h")
    ));
    daemon.once();
    // `once` has sent what it queued: the one- and the two-star review, not the four-star one.
    let mails: Vec<String> = inbox.mails().iter().map(|m| unqp(&m.raw)).collect();
    assert_eq!(mails.len(), 2, "{mails:#?}");
    let login = mails
        .iter()
        .find(|m| m.contains("Inloggen lukt niet meer"))
        .expect("an alert about the one-star review");
    let text = plain(login);
    assert!(
        text.contains("complaint · App Store · apps.apple.com · ★☆☆☆☆ 1 of 5 stars"),
        "{text}"
    );
    assert!(
        text.contains("Routed to team apps by rule \"bad reviews\": rated 1 star"),
        "{text}"
    );
    assert!(login.contains("★☆☆☆☆ 1 of 5 stars</span>"), "{login}");
    assert!(mails.iter().any(|m| m.contains("★★☆☆☆ 2 of 5 stars")));

    // `webcare route` says why a four-star review stays out.
    let out = daemon.webcare(&["route", "--text", "Prima app", "--stars", "4"]);
    let shown = common::text(&out);
    assert!(
        shown.contains("no     bad reviews: rated 4 stars, rule wants 1 to 2 stars"),
        "{shown}"
    );
}

/// The day of the fixture's two newest reviews; the digest is asked for it by date, so the test
/// does not age.
const DAY: &str = "2026-11-25";

/// The digest puts each review source's stars beside the days before, so a comms manager sees
/// an app's rating slip.
#[tokio::test(flavor = "multi_thread")]
async fn the_digest_shows_the_star_ratings_against_the_days_before() {
    let e2e = common::fakes::E2e::load("app_store");
    let server = e2e.start().await;
    let daemon = Daemon::new(&format!(
        "{}\n[mail]\nfrom = \"webcare@fjordlink.example\"\ntransport = \"file\"\ndir = \"mail\"\n\n\
         [digest]\ntime = \"08:00\"\ntime_zone = \"UTC\"\nrecipients = [\"comms@fjordlink.example\"]\n",
        e2e.source(&server.uri(), "1h")
    ));
    daemon.once();
    let out = daemon.webcare(&["digest", "--date", DAY]);
    let text = common::text(&out);
    assert!(out.status.success(), "{text}");
    // That day: a one-star and a four-star review; the week before: one with two stars.
    assert!(
        text.contains(
            "STAR RATINGS\n  appstore (App Store): 2 reviews, 2.5 of 5 stars on average \
             (previous 7 days: 2.0 over 1 review, +0.5); 1★ 1 · 4★ 1\n"
        ),
        "{text}"
    );
    let page = daemon.db().with_file_name("digest.html");
    let out = daemon.webcare(&["digest", "--date", DAY, "--out", page.to_str().unwrap()]);
    assert!(out.status.success(), "{}", common::text(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains(
            "<h2 style=\"font-size:17px;line-height:22px;margin:0 0 6px 0\">Star ratings</h2>"
        ),
        "{html}"
    );
    assert!(
        html.contains("<li>appstore (App Store): 2 reviews, 2.5 of 5 stars on average"),
        "{html}"
    );
    // The complaint and the good story carry their stars too.
    assert!(
        text.contains("1. #1 · Sanne_U · App Store (appstore) · ★☆☆☆☆ 1 of 5 stars"),
        "{text}"
    );
    assert!(
        text.contains("1. #2 · pieterfiets · App Store (appstore) · ★★★★☆ 4 of 5 stars"),
        "{text}"
    );
}

/// A team with a review source can list its reviews by stars in the web inbox: the filter is
/// offered, narrows the list, and a wrong value is refused with the key named.
#[tokio::test(flavor = "multi_thread")]
async fn the_web_inbox_filters_reviews_by_their_stars() {
    let e2e = common::fakes::E2e::load("app_store");
    let server = e2e.start().await;
    let added = common::run_with_input(
        std::process::Command::new(env!("CARGO_BIN_EXE_webcare")).args(["user", "add", "anna"]),
        b"anna's long password\n",
    );
    let user = common::text(&added)
        .lines()
        .find(|l| l.starts_with("anna = "))
        .expect("a users line")
        .to_string();
    let port = common::free_port();
    // The fixture's reviews keep their dates; retention keeps them whatever the clock says, so
    // the running daemon does not strip them when the suite runs a year later.
    let daemon = Daemon::new(&format!(
        "{}\n[retention]\nstrip_after = \"never\"\n\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\n\n[web.users]\n{user}\n",
        e2e.source(&server.uri(), "1h")
    ));
    daemon.once();
    let get = |path: &str, cookie: Option<&str>| request(port, "GET", path, cookie, &[], &[]);
    let running = daemon.run_until(|| get("/login", None).is_some_and(|a| a.status == 200));
    let signed_in = request(
        port,
        "POST",
        "/login",
        None,
        &[
            ("user", "anna"),
            ("password", "anna's long password"),
            ("next", "/"),
        ],
        &[],
    )
    .expect("the sign-in page answers");
    let cookie = signed_in.cookie().expect("a session cookie");

    let all = get("/?status=all", Some(&cookie)).unwrap();
    assert!(all.body.contains("<select name=\"stars\""), "{}", all.body);
    assert_eq!(all.body.matches("<li class=\"row").count(), 3);
    let low = get("/?status=all&stars=1-2", Some(&cookie)).unwrap();
    assert_eq!(
        low.body.matches("<li class=\"row").count(),
        2,
        "{}",
        low.body
    );
    assert!(
        low.body.contains("<option value=\"1-2\" selected>"),
        "{}",
        low.body
    );
    assert!(!low.body.contains("4 of 5 stars"), "{}", low.body);
    let four = get("/?status=all&stars=4", Some(&cookie)).unwrap();
    assert_eq!(four.body.matches("<li class=\"row").count(), 1);
    assert!(four.body.contains("★★★★☆ 4 of 5 stars"), "{}", four.body);
    let wrong = get("/?stars=6", Some(&cookie)).unwrap();
    assert_eq!(wrong.status, 400);
    assert!(
        wrong
            .body
            .contains("stars: &#34;6&#34; is not a number of stars from 1 to 5"),
        "{}",
        wrong.body
    );
    running.stop();
}
