//! Hostile feeds through the real binary: an external entity pointing at a local file, an
//! entity bomb, 100,000-deep nesting, a 2 GB body, a gzip bomb and invalid UTF-8 under a
//! declared UTF-8. Each is a clear error on its own source, in bounded time, while a healthy
//! source beside them is read as usual.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{FeedServer, Reply, Setup, atom, fjordlink_entries, text};

fn file_source(name: &str, path: &std::path::Path) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\nkind = \"rss\"\nurl = \"file://{}\"\nbackfill = \"3650d\"\n\n",
        path.display()
    )
}

fn http_source(name: &str, url: &str) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\nkind = \"rss\"\nurl = \"{url}\"\nbackfill = \"3650d\"\n\n"
    )
}

/// A gzip body that inflates to `size` bytes of `x`: one deflate block with fixed Huffman codes,
/// a literal and then length-258 matches at distance 1 (13 bits per 258 bytes). The trailer's
/// CRC is not computed: the reader must give up long before it gets there.
fn gzip_bomb(size: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        n: u32,
    }
    impl Bits {
        fn bit(&mut self, b: u32) {
            self.acc |= (b & 1) << self.n;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.n = 0;
            }
        }
        /// A Huffman code, most significant bit first.
        fn code(&mut self, code: u32, len: u32) {
            for i in (0..len).rev() {
                self.bit(code >> i);
            }
        }
    }
    let mut b = Bits {
        out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff],
        acc: 0,
        n: 0,
    };
    b.bit(1); // last block
    b.bit(1); // fixed Huffman (BTYPE = 01, low bit first)
    b.bit(0);
    b.code(0x30 + u32::from(b'x'), 8);
    for _ in 0..size / 258 {
        b.code(0b1100_0101, 8); // length 258
        b.code(0, 5); // distance 1
    }
    b.code(0, 7); // end of block
    while b.n != 0 {
        b.bit(0);
    }
    b.out.extend_from_slice(&[0; 8]);
    b.out
}

/// Serves `body` with `Content-Encoding: gzip` to every connection on 127.0.0.1.
fn serve_gzip(body: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut req = [0u8; 4096];
            let _ = conn.read(&mut req);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body);
        }
    });
    format!("http://{addr}/bomb.xml")
}

#[test]
fn hostile_feeds_each_fail_alone_and_quickly_while_a_healthy_feed_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p
    };
    let secret = write("secret.txt", b"SECRET-PASSWORD fjordlink");
    let healthy = write("healthy.xml", &atom(&fjordlink_entries("ok", 2)));
    let xxe = write(
        "xxe.xml",
        format!(
            "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM \"file://{}\">]>\
             <rss version=\"2.0\"><channel><item><guid>x1</guid><title>Fjordlink</title>\
             <description>fjordlink &xxe;</description></item></channel></rss>",
            secret.display()
        )
        .as_bytes(),
    );
    let mut lol = String::from("<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY lol0 \"lol\">");
    for i in 1..10 {
        let refs = format!("&lol{};", i - 1).repeat(10);
        lol.push_str(&format!("<!ENTITY lol{i} \"{refs}\">"));
    }
    lol.push_str("]><rss version=\"2.0\"><channel><item><guid>b1</guid><title>fjordlink &lol9;</title></item></channel></rss>");
    let laughs = write("laughs.xml", lol.as_bytes());
    let deep = write(
        "deep.xml",
        format!(
            "<rss version=\"2.0\"><channel><item><title>fjordlink</title>{}</item></channel></rss>",
            "<a>".repeat(100_000)
        )
        .as_bytes(),
    );
    let bad_utf8 = write(
        "latin1.xml",
        b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss version=\"2.0\"><channel><item><guid>u1</guid>\
          <title>Fjordlink caf\xe9 \xe0 la gare</title></item></channel></rss>",
    );
    let server = FeedServer::start();
    server.set("huge.xml", Reply::Huge(2 * 1024 * 1024 * 1024));
    let bomb = serve_gzip(gzip_bomb(300 * 1024 * 1024));

    let sources = [
        file_source("healthy", &healthy),
        file_source("xxe", &xxe),
        file_source("laughs", &laughs),
        file_source("deep", &deep),
        file_source("latin1", &bad_utf8),
        http_source("huge", &server.url("huge.xml")),
        http_source("bomb", &bomb),
    ]
    .concat();
    let setup = Setup::new(&sources);
    let started = Instant::now();
    let out = setup.run(&["once"]);
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(60),
        "once took {took:?}: {}",
        text(&out)
    );

    let expect = [
        ("xxe", "external entity &xxe;"),
        ("laughs", "entity expansion exceeds"),
        ("deep", "nest deeper than 512 levels"),
        ("latin1", "does not decode as UTF-8"),
        ("huge", "larger than the 10485760 byte limit"),
        ("bomb", "larger than the 10485760 byte limit"),
    ];
    let states = setup.sources_json();
    for (name, phrase) in expect {
        let s = states.iter().find(|s| s["source"] == name).unwrap();
        let err = s["last_error"].as_str().unwrap_or_default();
        assert!(
            err.contains(phrase),
            "{name}: {err:?} should say {phrase:?}"
        );
    }
    let ok = states.iter().find(|s| s["source"] == "healthy").unwrap();
    assert!(ok["last_error"].is_null(), "{ok}");
    assert_eq!(setup.count(Some("healthy")), 2, "{}", text(&out));
    assert_eq!(
        setup.count(None),
        2,
        "nothing from a hostile feed is stored"
    );

    // No byte of the local file reached the database, the log or the error texts.
    let db = std::fs::read(setup.db()).unwrap();
    assert!(!db.windows(15).any(|w| w == b"SECRET-PASSWORD"));
    assert!(!text(&out).contains("SECRET-PASSWORD"));
}
