//! RSS 2.0 `<author>` through the real binary: the e-mail address is the handle and the name
//! the name, and `forget` refuses a name that several people share unless told `--all`.

mod common;

use common::{FeedServer, Reply, Setup, text};

fn feed() -> Vec<u8> {
    let now = chrono::Utc::now().to_rfc2822();
    let item = |id: &str, author: &str| {
        format!(
            "<item><guid>{id}</guid><title>Fjordlink {id}</title><description>Fjordlink storing {id}</description><author>{author}</author><pubDate>{now}</pubDate></item>"
        )
    };
    format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Forum</title>{}{}{}</channel></rss>",
        item("1", "jan@a.example (Jan Jansen)"),
        item("2", "jan@b.example (Jan Jansen)"),
        item("3", "piet@example.org"),
    )
    .into_bytes()
}

fn authors(s: &Setup) -> Vec<(Option<String>, Option<String>)> {
    s.mention_pairs("author_handle, author_name")
}

#[test]
fn rss_authors_are_people_and_a_shared_name_is_not_forgotten_by_accident() {
    let server = FeedServer::start();
    server.set("forum.xml", Reply::Feed(feed()));
    let s = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nbackfill = \"3650d\"\n",
        server.url("forum.xml")
    ));
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    let some = |v: &str| Some(v.to_string());
    assert_eq!(
        authors(&s),
        [
            (some("jan@a.example"), some("Jan Jansen")),
            (some("jan@b.example"), some("Jan Jansen")),
            (some("piet@example.org"), None),
        ]
    );

    let out = s.run(&["forget", "--author", "rss:Jan Jansen"]);
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(
        msg.contains("matches 2 different people (jan@a.example, jan@b.example)")
            && msg.contains("--all"),
        "{msg}"
    );
    assert_eq!(s.count(None), 3, "a refused forget changes nothing");

    let out = s.run(&["forget", "--author", "rss:jan@b.example"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(s.count(None), 2);

    // One Jan Jansen left: the name now names one person.
    let out = s.run(&["forget", "--author", "rss:Jan Jansen"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(authors(&s), [(some("piet@example.org"), None)]);
}
