//! Long CLI work shows progress only on a terminal: piped, `backup`, `prune`, `forget`,
//! `backtest` and `once` write their result lines and nothing else (no bar, no carriage
//! returns, no escape codes).

mod common;

use common::{FeedServer, Reply, Setup, assert_said, atom, fjordlink_entries, text};

fn assert_quiet(what: &str, out: &std::process::Output) {
    assert!(out.status.success(), "{what}: {}", text(out));
    let all = text(out);
    for noise in [
        "\r",
        "\u{1b}[",
        "backing up",
        "pruning",
        "polling",
        "replaying",
        "forgetting",
    ] {
        assert!(
            !all.contains(noise),
            "{what} drew progress into a pipe: {all:?}"
        );
    }
}

#[test]
fn piped_long_commands_print_only_their_results() {
    let server = FeedServer::start();
    let mail = tempfile::tempdir().unwrap();
    server.set("feed.xml", Reply::Feed(atom(&fjordlink_entries("p", 50))));
    let setup = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nbackfill = \"3650d\"\n\n\
         [retention]\nraw_after = \"1h\"\n\n\
         [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\ntransport = \"file\"\ndir = \"{}\"\n\n\
         [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\n",
        server.url("feed.xml"),
        mail.path().display()
    ))
    .env("RUST_LOG", "off");
    let once = setup.run(&["once"]);
    assert_quiet("once", &once);
    assert_said(&once, "stored   50");

    let dest = setup.dir.path().join("copy.db");
    let backup = setup.run(&["backup", dest.to_str().unwrap()]);
    assert_quiet("backup", &backup);
    assert_said(&backup, "(50 mentions, integrity ok)");

    let backtest = setup.run(&["backtest", "--since", "3650d"]);
    assert_quiet("backtest", &backtest);
    assert!(!text(&backtest).is_empty());

    let forget = setup.run(&["forget", "--author", "rss:user3"]);
    assert_quiet("forget", &forget);
    assert!(
        text(&forget).starts_with("forgot rss:user3:"),
        "{}",
        text(&forget)
    );

    let prune = setup.run(&["prune"]);
    assert_quiet("prune", &prune);
    assert!(text(&prune).starts_with("retention:"), "{}", text(&prune));
}
