//! How the mails look: an urgent alert, a batch and a digest, rendered by the real binary (to `.eml`
//! files, or the digest's `--out` page),
//! shown by headless Chromium at a phone's width (390 px), and checked for the layout facts that
//! make the five-second test: the coloured banner at the top, and the Answer button on the first
//! screen. The screenshots are kept in `target/mail-screens/` to look at. Skips, saying so, when
//! Chromium is not installed (`.ci/run` installs it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::inbox::unqp;
use common::{FeedServer, Reply, Setup, atom, text};

const CHROMIUM: &str = "/usr/bin/chromium";
/// A phone's first screen, in CSS pixels, below the mail app's own header.
const FIRST_SCREEN: usize = 640;

/// An RGBA image decoded from Chromium's PNG (8-bit RGB or RGBA, not interlaced).
struct Image {
    width: usize,
    height: usize,
    rgba: Vec<[u8; 4]>,
}

impl Image {
    fn at(&self, x: usize, y: usize) -> [u8; 4] {
        self.rgba[y * self.width + x]
    }

    /// Rows (from the top) that hold at least `min` pixels within `tolerance` of `rgb`.
    fn rows_with(&self, rgb: [u8; 3], min: usize) -> Vec<usize> {
        (0..self.height)
            .filter(|&y| {
                (0..self.width)
                    .filter(|&x| close(self.at(x, y), rgb))
                    .count()
                    >= min
            })
            .collect()
    }
}

fn close(p: [u8; 4], rgb: [u8; 3]) -> bool {
    (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 12)
}

fn decode_png(bytes: &[u8]) -> Image {
    use std::io::Read;
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    let mut i = 8;
    while i + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
        let kind = &bytes[i + 4..i + 8];
        let data = &bytes[i + 8..i + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "8-bit samples");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    other => panic!("colour type {other} not handled"),
                };
                assert_eq!(data[12], 0, "not interlaced");
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        i += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .unwrap();
    let stride = width * channels;
    let mut prev = vec![0u8; stride];
    let mut rgba = Vec::with_capacity(width * height);
    for y in 0..height {
        let line = &raw[y * (stride + 1)..(y + 1) * (stride + 1)];
        let filter = line[0];
        let mut cur = line[1..].to_vec();
        for x in 0..stride {
            let a = if x >= channels { cur[x - channels] } else { 0 };
            let b = prev[x];
            let c = if x >= channels { prev[x - channels] } else { 0 };
            let add = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("PNG filter {f}"),
            };
            cur[x] = cur[x].wrapping_add(add);
        }
        for px in cur.chunks(channels) {
            rgba.push([px[0], px[1], px[2], if channels == 4 { px[3] } else { 255 }]);
        }
        prev = cur;
    }
    Image {
        width,
        height,
        rgba,
    }
}

/// The HTML part of an `.eml` file, quoted-printable decoded.
fn html_part(eml: &str) -> String {
    let part = eml
        .split("Content-Type: text/html")
        .nth(1)
        .expect("an HTML part");
    let body = part.split_once("\r\n\r\n").unwrap().1;
    let html = unqp(body.split("\r\n--").next().unwrap());
    assert!(!html.contains('\u{FFFD}'), "the HTML part is not UTF-8");
    html
}

fn screens() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mail-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Renders `html` at 390 px wide in headless Chromium; `None` when Chromium is missing.
fn screenshot(name: &str, html: &str) -> Option<Image> {
    if !Path::new(CHROMIUM).exists() {
        eprintln!("NOTICE: {CHROMIUM} is not installed; skipping the screenshot check of {name}");
        return None;
    }
    let dir = screens();
    let page = dir.join(format!("{name}.html"));
    let png = dir.join(format!("{name}.png"));
    std::fs::write(&page, html).unwrap();
    let _ = std::fs::remove_file(&png);
    let profile = tempfile::tempdir().unwrap();
    // Under the clock-ahead CI stage's libfaketime chromium is slow to start; its clock does
    // not matter here.
    let out = Command::new(CHROMIUM)
        .env_remove("LD_PRELOAD")
        .env_remove("FAKETIME")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--window-size=390,1200")
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let bytes = std::fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "chromium wrote no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Some(decode_png(&bytes))
}

/// A config whose alerts are written as `.eml` files; the feed's history poll is done.
fn setup(feed: &FeedServer, batch_window: &str) -> (Setup, PathBuf) {
    let s = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nlang = \"nl\"\ninterval = \"1s\"\n\n\
         [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\ntransport = \"file\"\ndir = \"MAILDIR\"\nbatch_window = \"{batch_window}\"\n\n\
         [[teams]]\nname = \"webcare\"\nemails = [\"agent@fjordlink.example\"]\ntime_zone = \"Europe/Amsterdam\"\n",
        feed.url("feed")
    ));
    let maildir = s.dir.path().join("mail");
    let cfg = std::fs::read_to_string(&s.config)
        .unwrap()
        .replace("MAILDIR", &maildir.display().to_string());
    std::fs::write(&s.config, cfg).unwrap();
    feed.publish("feed", &[("urn:old", "Fjordlink opent een nieuwe winkel")]);
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    (s, maildir)
}

/// Runs `webcare once`, asserts that it wrote exactly one mail (a batch is one mail) to
/// `maildir`, and returns that mail's HTML part.
fn once_mails_one(s: &Setup, maildir: &Path) -> String {
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    let sent = mails(maildir);
    assert_eq!(sent.len(), 1, "expected one mail: {}", text(&out));
    html_part(&sent[0])
}

fn mails(dir: &Path) -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

/// The banner's red and the Answer button's blue, as the template writes them.
const URGENT_RED: [u8; 3] = [0xb4, 0x23, 0x18];
const COMPLAINT_ORANGE: [u8; 3] = [0xc4, 0x32, 0x0a];
const BUTTON_BLUE: [u8; 3] = [0x1d, 0x4e, 0xd8];

#[test]
fn an_urgent_alert_shows_its_banner_and_the_answer_button_on_the_first_screen() {
    let feed = FeedServer::start();
    let (s, maildir) = setup(&feed, "0s");
    feed.publish(
        "feed",
        &[
            ("urn:new", "Fjordlink storing, al 3 dagen geen internet"),
            ("urn:old", "Fjordlink opent een nieuwe winkel"),
        ],
    );
    let html = once_mails_one(&s, &maildir);
    assert!(html.contains("Urgent"), "{html}");
    assert!(html.contains("Answer on RSS feed"), "{html}");
    assert!(
        !html.contains("src=\"http"),
        "no external resources: {html}"
    );
    let Some(img) = screenshot("alert", &html) else {
        return;
    };
    let banner = img.rows_with(URGENT_RED, 300);
    assert!(
        banner.first().is_some_and(|&y| y < 40),
        "the red banner opens the mail (rows {banner:?})"
    );
    assert!(
        banner.len() >= 20,
        "a banner, not a line: {} rows",
        banner.len()
    );
    let button = img.rows_with(BUTTON_BLUE, 100);
    assert!(
        button.last().is_some_and(|&y| y < FIRST_SCREEN),
        "the Answer button is on the first screen (rows {button:?})"
    );
}

#[test]
fn a_batch_shows_every_alert_with_its_banner() {
    let feed = FeedServer::start();
    let (s, maildir) = setup(&feed, "60s");
    feed.publish(
        "feed",
        &[
            (
                "urn:a",
                "Fjordlink factuur klopt weer niet, twee keer afgeschreven",
            ),
            (
                "urn:b",
                "Fjordlink tv doet het niet, zender zwart sinds gisteren",
            ),
            ("urn:old", "Fjordlink opent een nieuwe winkel"),
        ],
    );
    let html = once_mails_one(&s, &maildir);
    assert_eq!(html.matches("id=\"banner\"").count(), 2, "{html}");
    assert!(html.contains("id=\"summary\""), "{html}");
    assert!(html.contains("2 complaints"), "{html}");
    let Some(img) = screenshot("batch", &html) else {
        return;
    };
    let banner = img.rows_with(COMPLAINT_ORANGE, 300);
    assert!(!banner.is_empty(), "the complaint banners show");
    let button = img.rows_with(BUTTON_BLUE, 100);
    assert!(
        button.first().is_some_and(|&y| y < FIRST_SCREEN + 200),
        "the first Answer button is near the top (rows {button:?})"
    );
}

/// The digest's dark header, the volume chart's complaint line and the period's shading, as
/// the template and `src/notify/chart.rs` draw them.
const HEADER_DARK: [u8; 3] = [0x10, 0x18, 0x28];
const PERIOD_SHADE: [u8; 3] = [0xfe, 0xf0, 0xc7];

#[test]
fn a_digest_shows_its_header_and_charts_within_a_phones_width() {
    let feed = FeedServer::start();
    let s = Setup::new(&format!(
        "[[sources]]\nname = \"forum\"\nkind = \"rss\"\nurl = \"{}\"\nlang = \"nl\"\ninterval = \"1h\"\n\n\
         [mail]\nfrom = \"webcare <webcare@fjordlink.example>\"\ntransport = \"file\"\ndir = \"mail\"\n\n\
         [digest]\ntime_zone = \"UTC\"\nrecipients = [\"comms@fjordlink.example\"]\n",
        feed.url("feed")
    ));
    let posts = [
        "Fjordlink storing, geen internet sinds vanochtend",
        "Fjordlink factuur klopt weer niet, twee keer afgeschreven",
        "Geen internet bij Fjordlink, helpdesk neemt niet op",
        "Fjordlink monteur was super vriendelijk, top geholpen!",
        "Werkt Fjordlink glasvezel ook in Zeeland?",
    ];
    feed.set(
        "feed",
        Reply::Feed(atom(
            &posts
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("urn:d{i}"), t.to_string()))
                .collect::<Vec<_>>(),
        )),
    );
    let out = s.run(&["once"]);
    assert!(out.status.success(), "{}", text(&out));
    // The feed's posts are dated from feed_epoch(): their UTC day is the digest's period.
    let date = common::feed_epoch().format("%Y-%m-%d").to_string();
    let page = s.dir.path().join("digest.html");
    let out = s.run(&["digest", "--date", &date, "--out", page.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("id=\"header\""), "{html}");
    assert!(html.contains("id=\"chart-volume\""), "{html}");
    assert!(html.contains("id=\"chart-sentiment\""), "{html}");
    assert!(!html.contains("src=\"http"), "no external resources");
    let Some(img) = screenshot("digest", &html) else {
        return;
    };
    let header = img.rows_with(HEADER_DARK, 300);
    assert!(
        header.first().is_some_and(|&y| y < 40) && header.len() >= 30,
        "the dark header opens the digest (rows {header:?})"
    );
    // The volume chart is drawn (its period shading shows) and scaled to the screen: the
    // shading ends at the chart's right edge, inside the 390 px, not cut off at the border.
    let shade: Vec<(usize, usize)> = (0..img.height)
        .flat_map(|y| (0..img.width).map(move |x| (x, y)))
        .filter(|&(x, y)| close(img.at(x, y), PERIOD_SHADE))
        .collect();
    assert!(
        shade.len() > 500,
        "the volume chart shows ({} px)",
        shade.len()
    );
    let right = shade.iter().map(|p| p.0).max().unwrap_or(0);
    assert!(
        right < img.width - 8,
        "the chart fits the width: shading ends at x={right}"
    );
    assert!(
        img.rows_with(COMPLAINT_ORANGE, 1).len() > 20,
        "the complaint line (and the complaint items' border) show"
    );
}
