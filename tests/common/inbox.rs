//! The well-behaved SMTP server of the end-to-end tests and benches: mailin-embedded on
//! 127.0.0.1 in the test process, keeping every message it accepts, plus the readers the tests
//! use on what arrived (quoted-printable undone, the Subject unfolded, the plain part).
//!
//! It depends on nothing else in `tests/common`, so a bench includes it with
//! `#[path = "../tests/common/inbox.rs"] mod inbox;`. The server that misbehaves on purpose is
//! `smtp.rs` beside it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailin_embedded::{AuthMechanism, Handler, Response, Server, SslConfig, response};

/// One accepted message: envelope recipients, the raw message, and when the server took it.
#[derive(Clone, Debug)]
pub struct Received {
    pub to: Vec<String>,
    pub raw: String,
    pub at: Instant,
}

/// A login the server accepts with AUTH PLAIN.
#[derive(Clone)]
struct Login {
    user: String,
    password: String,
}

/// The server's behaviour and what it received; every connection works on a clone, so the
/// shared parts sit behind `Arc`s and the per-message parts (`to`, `data`) are the clone's own.
#[derive(Clone, Default)]
pub struct Inbox {
    mails: Arc<Mutex<Vec<Received>>>,
    accepted: Arc<AtomicUsize>,
    /// Counts messages without keeping them, so a long bench does not grow.
    count_only: bool,
    /// Answer RCPT with this code instead of 250.
    reject_rcpt: Arc<Mutex<Option<u16>>>,
    /// Runs before the server answers each message's data.
    on_mail: Option<Arc<dyn Fn() + Send + Sync>>,
    login: Option<Login>,
    logins: Arc<Mutex<Vec<String>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Inbox {
    fn rcpt(&mut self, _to: &str) -> Response {
        match *self.reject_rcpt.lock().unwrap() {
            Some(code) => Response::custom(code, "scripted rejection".into()),
            None => response::OK,
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if !self.count_only {
            self.data.extend_from_slice(buf);
        }
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        if let Some(hook) = &self.on_mail {
            hook();
        }
        self.accepted.fetch_add(1, Ordering::SeqCst);
        if !self.count_only {
            let raw = String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned();
            self.mails.lock().unwrap().push(Received {
                to: std::mem::take(&mut self.to),
                raw,
                at: Instant::now(),
            });
        }
        response::OK
    }

    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        self.logins.lock().unwrap().push(user.to_string());
        match &self.login {
            Some(l) if l.user == user && l.password == password => response::AUTH_OK,
            _ => response::INVALID_CREDENTIALS,
        }
    }
}

/// Starts a plain SMTP server on a free port of 127.0.0.1; returns its inbox and the port.
pub fn smtp() -> (Inbox, u16) {
    let inbox = Inbox::default();
    let port = inbox.serve();
    (inbox, port)
}

impl Inbox {
    /// An inbox that counts what it accepts and keeps none of it.
    pub fn counting() -> Inbox {
        Inbox {
            count_only: true,
            ..Inbox::default()
        }
    }

    /// An inbox that runs `hook` before it answers each message.
    pub fn with_hook(hook: Arc<dyn Fn() + Send + Sync>) -> Inbox {
        Inbox {
            on_mail: Some(hook),
            ..Inbox::default()
        }
    }

    /// An inbox that accepts AUTH PLAIN for `user` with `password` only.
    pub fn with_login(user: &str, password: &str) -> Inbox {
        Inbox {
            login: Some(Login {
                user: user.to_string(),
                password: password.to_string(),
            }),
            ..Inbox::default()
        }
    }

    /// Serves plain SMTP on a free port of 127.0.0.1 and returns the port.
    pub fn serve(&self) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        self.serve_on(listener, None);
        port
    }

    /// Serves on `listener`, with STARTTLS under `tls` when given (and then AUTH PLAIN); the
    /// thread lives as long as the process.
    pub fn serve_on(&self, listener: TcpListener, tls: Option<SslConfig>) {
        let mut server = Server::new(self.clone());
        server.with_name("localhost");
        if let Some(tls) = tls {
            server
                .with_ssl(tls)
                .unwrap()
                .with_auth(AuthMechanism::Plain);
        }
        server.with_tcp_listener(listener).with_num_threads(4);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
    }

    /// Every message accepted so far, in order.
    pub fn mails(&self) -> Vec<Received> {
        self.mails.lock().unwrap().clone()
    }

    /// The raw text of every message accepted so far.
    pub fn raws(&self) -> Vec<String> {
        self.mails().into_iter().map(|m| m.raw).collect()
    }

    /// Every message accepted so far with quoted-printable undone, so a test reads the body.
    pub fn decoded(&self) -> Vec<String> {
        self.mails().iter().map(|m| unqp(&m.raw)).collect()
    }

    /// How many messages the server accepted (kept or not).
    pub fn count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits up to `limit` for at least `n` messages, then returns what arrived.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let start = Instant::now();
        while self.mails().len() < n && start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.mails()
    }

    /// From now on RCPT is answered with `code` (`None`: 250 again).
    pub fn reject_rcpt(&self, code: Option<u16>) {
        *self.reject_rcpt.lock().unwrap() = code;
    }

    /// The user names of every AUTH PLAIN attempt, in order.
    pub fn logins(&self) -> Vec<String> {
        self.logins.lock().unwrap().clone()
    }
}

/// Undoes quoted-printable soft line breaks and `=XX` escapes (enough for mail bodies).
pub fn unqp(s: &str) -> String {
    let joined = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The Subject header of a raw message, unfolded.
pub fn subject(mail: &str) -> String {
    mail.split("\r\n\r\n")
        .next()
        .unwrap()
        .split("\r\n")
        .skip_while(|l| !l.starts_with("Subject:"))
        .take_while(|l| l.starts_with("Subject:") || l.starts_with(' '))
        .collect::<Vec<_>>()
        .join("")
}

/// The text/plain part of a message (everything before its HTML part).
pub fn plain(mail: &str) -> &str {
    mail.split("Content-Type: text/html").next().unwrap()
}
