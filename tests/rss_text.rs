//! Feed text through the real binary, as servers really send it: a UTF-8 feed that the server
//! labels `charset=ISO-8859-1` (a common default), a field whose UTF-8 was read as Latin-1
//! upstream, markup whose blocks and cells must keep words apart, relative links in a body, and a
//! podcast entry whose `description` is a teaser of its `itunes:summary`. What is stored must read
//! as written, and a watch must find a Danish word, and a word only the whole summary holds.

mod common;

use common::{FeedServer, Reply, Setup, feed_epoch, text};

fn feed() -> String {
    let date = feed_epoch().to_rfc2822();
    let item = |id: &str, title: &str, body: &str| {
        format!(
            "<item><guid>{id}</guid><title>{title}</title><description>{body}</description><pubDate>{date}</pubDate></item>"
        )
    };
    // A podcast entry: the watch word is only in the whole text, not in the teaser.
    let episode = format!(
        "<item><guid>4</guid><title>Aflevering 12</title><description>Sanne en gasten bespreken...</description><itunes:summary>Sanne en gasten bespreken waarom Fjordlink een dag plat lag.</itunes:summary><pubDate>{date}</pubDate></item>"
    );
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\" xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\" xml:base=\"https://forum.example/t/\"><channel><title>Forum</title>{}{}{}{}{episode}</channel></rss>",
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
        item(
            "5",
            "Fjordlink forum",
            "Door &lt;a href=\"/u/sanne\"&gt;/u/sanne&lt;/a&gt;"
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
            // Stored because the watch found "Fjordlink" in the whole summary, not the teaser.
            pair(
                "Aflevering 12",
                "Sanne en gasten bespreken waarom Fjordlink een dag plat lag."
            ),
            // A relative address written as the link's text gets the address it stands for.
            pair(
                "Fjordlink forum",
                "Door /u/sanne (https://forum.example/u/sanne)"
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
