//! A small SMTP server on 127.0.0.1 (tokio, its own thread) that can be told to misbehave the way
//! real servers do: answer the end of data late, never answer it, refuse a recipient (550),
//! refuse a message for now (451), refuse a login (535). Written for these tests so that the
//! faults are exact; mailin-embedded is the well-behaved server of the other tests.
//!
//! The recipient's local part picks the fault while faults are on: `slow*` gets its 250 after
//! [`FaultSmtp::slow`], `stall*` never gets an answer to its data, `temp*` gets 451 at the end
//! of data, `perm*` gets 550 at RCPT. With faults off every message is accepted. With a
//! password set, AUTH PLAIN is offered and required.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A message the server accepted (answered 250 to its data), or refused at the end of data.
#[derive(Debug, Clone)]
pub struct Received {
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The message as sent, dot-unstuffed.
    pub raw: String,
    /// What the server answered to its end of data ("" when it never answered).
    pub answer: String,
}

/// The server; clones share it.
#[derive(Clone)]
pub struct FaultSmtp {
    pub port: u16,
    faults: Arc<AtomicBool>,
    slow: Arc<Mutex<Duration>>,
    password: Arc<Mutex<Option<String>>>,
    log: Arc<Mutex<Vec<Received>>>,
    connections: Arc<Mutex<usize>>,
}

impl FaultSmtp {
    /// Starts the server with faults on and no password.
    pub fn start() -> FaultSmtp {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let server = FaultSmtp {
            port,
            faults: Arc::new(AtomicBool::new(true)),
            slow: Arc::new(Mutex::new(Duration::from_secs(3))),
            password: Arc::new(Mutex::new(None)),
            log: Arc::new(Mutex::new(Vec::new())),
            connections: Arc::new(Mutex::new(0)),
        };
        let s = server.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                loop {
                    let Ok((conn, _)) = listener.accept().await else {
                        continue;
                    };
                    *s.connections.lock().unwrap() += 1;
                    let s = s.clone();
                    tokio::spawn(async move {
                        let _ = s.serve(conn).await;
                    });
                }
            });
        });
        server
    }

    /// Turns the faults on or off.
    pub fn faults(&self, on: bool) {
        self.faults.store(on, Ordering::SeqCst);
    }

    /// How late `slow*` recipients get their 250.
    pub fn slow(&self, delay: Duration) {
        *self.slow.lock().unwrap() = delay;
    }

    /// Requires AUTH PLAIN with this password (any user name).
    pub fn password(&self, password: Option<&str>) {
        *self.password.lock().unwrap() = password.map(str::to_string);
    }

    /// Every message that reached the end of data, in order, with the server's answer.
    pub fn log(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }

    /// The messages answered with 250.
    pub fn accepted(&self) -> Vec<Received> {
        self.log()
            .into_iter()
            .filter(|r| r.answer.starts_with("250"))
            .collect()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }

    async fn serve(&self, conn: tokio::net::TcpStream) -> std::io::Result<()> {
        let (r, mut w) = conn.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"220 fault.test ESMTP ready\r\n").await?;
        let mut to: Vec<String> = Vec::new();
        let mut authed = false;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let upper = line.to_ascii_uppercase();
            let password = self.password.lock().unwrap().clone();
            let faults = self.faults.load(Ordering::SeqCst);
            if upper.starts_with("EHLO") {
                let auth = if password.is_some() {
                    "250-AUTH PLAIN\r\n"
                } else {
                    ""
                };
                w.write_all(
                    format!("250-fault.test\r\n{auth}250-8BITMIME\r\n250 SMTPUTF8\r\n").as_bytes(),
                )
                .await?;
            } else if upper.starts_with("AUTH PLAIN") {
                let given = line.split_whitespace().nth(2).unwrap_or("");
                let ok = password.as_deref().is_some_and(|p| {
                    decode_base64(given)
                        .rsplit(|b| *b == 0)
                        .next()
                        .is_some_and(|got| got == p.as_bytes())
                });
                authed = ok;
                w.write_all(if ok {
                    b"235 2.7.0 Authentication successful\r\n".as_slice()
                } else {
                    b"535 5.7.8 Authentication credentials invalid\r\n".as_slice()
                })
                .await?;
            } else if upper.starts_with("MAIL FROM") {
                if password.is_some() && !authed {
                    w.write_all(b"530 5.7.0 Authentication required\r\n")
                        .await?;
                } else {
                    to.clear();
                    w.write_all(b"250 2.1.0 OK\r\n").await?;
                }
            } else if upper.starts_with("RCPT TO") {
                let addr = line
                    .split(['<', '>'])
                    .nth(1)
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if faults && addr.starts_with("perm") {
                    w.write_all(b"550 5.1.1 No such user here\r\n").await?;
                } else {
                    to.push(addr);
                    w.write_all(b"250 2.1.5 OK\r\n").await?;
                }
            } else if upper.starts_with("DATA") {
                w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut raw = String::new();
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).await? == 0 {
                        return Ok(());
                    }
                    if l == ".\r\n" {
                        break;
                    }
                    raw.push_str(l.strip_prefix('.').unwrap_or(&l));
                }
                let first = to.first().cloned().unwrap_or_default();
                let answer = if faults && first.starts_with("stall") {
                    self.push(&to, raw, "");
                    // Never answer; keep the connection open until the client gives up.
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return Ok(());
                } else if faults && first.starts_with("temp") {
                    "451 4.3.0 Try again later"
                } else {
                    if faults && first.starts_with("slow") {
                        let delay = *self.slow.lock().unwrap();
                        tokio::time::sleep(delay).await;
                    }
                    "250 2.0.0 Queued"
                };
                self.push(&to, raw, answer);
                w.write_all(format!("{answer}\r\n").as_bytes()).await?;
            } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
                w.write_all(b"250 2.0.0 OK\r\n").await?;
            } else if upper.starts_with("QUIT") {
                w.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            } else {
                w.write_all(b"502 5.5.2 Command not recognised\r\n").await?;
            }
        }
    }

    fn push(&self, to: &[String], raw: String, answer: &str) {
        self.log.lock().unwrap().push(Received {
            to: to.to_vec(),
            raw,
            answer: answer.to_string(),
        });
    }
}

/// Standard base64, enough for AUTH PLAIN; anything unexpected decodes to nothing useful.
fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.trim().bytes() {
        let Some(v) = value(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
