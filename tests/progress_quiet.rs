//! Long CLI work shows progress only on a terminal: piped, `backup`, `prune` and `once` write
//! their result lines and nothing else (no bar, no carriage returns, no escape codes).

mod common;

use common::{FeedServer, Reply, Setup, atom, fjordlink_entries, text};

fn assert_quiet(what: &str, out: &std::process::Output) {
    assert!(out.status.success(), "{what}: {}", text(out));
    let all = text(out);
    for noise in ["\r", "\u{1b}[", "backing up", "pruning", "polling"] {
        assert!(
            !all.contains(noise),
            "{what} drew progress into a pipe: {all:?}"
        );
    }
}

#[test]
fn piped_backup_prune_and_once_print_only_their_results() {
    let server = FeedServer::start();
    server.set("feed.xml", Reply::Feed(atom(&fjordlink_entries("p", 50))));
    let setup = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nbackfill = \"3650d\"\n\n\
         [retention]\nraw_after = \"1h\"\n",
        server.url("feed.xml")
    ))
    .env("RUST_LOG", "off");
    let once = setup.run(&["once"]);
    assert_quiet("once", &once);
    assert!(text(&once).contains("stored   50"), "{}", text(&once));

    let dest = setup.dir.path().join("copy.db");
    let backup = setup.run(&["backup", dest.to_str().unwrap()]);
    assert_quiet("backup", &backup);
    assert!(
        text(&backup).contains("(50 mentions, integrity ok)"),
        "{}",
        text(&backup)
    );

    let prune = setup.run(&["prune"]);
    assert_quiet("prune", &prune);
    assert!(text(&prune).starts_with("retention:"), "{}", text(&prune));
}
