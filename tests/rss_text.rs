//! Feed text through the real binary, as servers really send it: a UTF-8 feed that the server
//! labels `charset=ISO-8859-1` (a common default), a field whose UTF-8 was read as Latin-1
//! upstream, markup whose blocks and cells must keep words apart, and relative links in a body.
//! What is stored must read as written, and a watch on a Danish word must find it.

mod common;

use common::{FeedServer, Reply, Setup, feed_epoch, text};

fn feed() -> String {
    let date = feed_epoch().to_rfc2822();
    let item = |id: &str, title: &str, body: &str| {
        format!(
            "<item><guid>{id}</guid><title>{title}</title><description>{body}</description><pubDate>{date}</pubDate></item>"
        )
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\" xml:base=\"https://forum.example/t/\"><channel><title>Forum</title>{}{}{}</channel></rss>",
        item(
            "1",
            "Internet nede i København",
            "Ingen forbindelse på Østerbro siden i morges."
        ),
        // Encoded twice before it reached the feed: "Søren" and "it’s" as Latin-1 read them.
        item(
            "2",
            "SÃ¸ren: Fjordlink itâ€™s down again",
            "&lt;dl&gt;&lt;dt&gt;Time&lt;/dt&gt;&lt;dd&gt;09:12&lt;/dd&gt;&lt;/dl&gt;&lt;table&gt;&lt;tr&gt;&lt;td&gt;Router&lt;/td&gt;&lt;td&gt;red&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;"
        ),
        item(
            "3",
            "Fjordlink storing",
            "Zie &lt;a href=\"storing-42\"&gt;de melding&lt;/a&gt;."
        ),
    )
}

#[test]
fn a_utf8_feed_labelled_latin1_is_stored_as_written_and_found_by_its_words() {
    let server = FeedServer::start();
    server.set(
        "forum.xml",
        Reply::Status(
            200,
            vec![("Content-Type".into(), "text/xml; charset=ISO-8859-1".into())],
            feed(),
        ),
    );
    let s = Setup::with_watch(
        "fjordlink OR København",
        &format!(
            "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nbackfill = \"3650d\"\n",
            server.url("forum.xml")
        ),
    );
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    let got: Vec<(String, String)> = s.mention_pairs("title, text");
    let pair = |t: &str, b: &str| (t.to_string(), b.to_string());
    assert_eq!(
        got,
        [
            pair(
                "Internet nede i København",
                "Ingen forbindelse på Østerbro siden i morges."
            ),
            pair(
                "Søren: Fjordlink it’s down again",
                "Time\n09:12\nRouter red"
            ),
            pair(
                "Fjordlink storing",
                "Zie de melding (https://forum.example/t/storing-42)."
            ),
        ]
    );
    // The first is stored because the watch found "København" in it; a search finds it too.
    let out = s.run(&["mentions", "--query", "København", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out)
    );
}
