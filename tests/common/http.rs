//! A small HTTP/1.1 client for the end-to-end tests: one request to a daemon's admin or web
//! listener on 127.0.0.1, answered as status, headers and body. Written over a bare TCP stream so
//! a test sees exactly what the server sent (no redirects followed, no cookies kept).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An HTTP answer: status, headers (lower-case names) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The whole answer as it arrived: status line, headers and body.
    pub raw: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The session cookie set by this answer, as `name=value`.
    pub fn cookie(&self) -> Option<String> {
        let c = self.header("set-cookie")?;
        Some(c.split(';').next()?.to_string())
    }

    /// The CSRF token in the page's forms.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("a form") + 19;
        self.body[at..].split('"').next().unwrap().to_string()
    }

    /// The text of the element with `id`, tags removed.
    pub fn by_id(&self, id: &str) -> Option<String> {
        let at = self.body.find(&format!("id=\"{id}\""))?;
        let rest = &self.body[at..];
        let start = rest.find('>')? + 1;
        let end = rest.find("</")?;
        Some(rest[start..end.max(start)].to_string())
    }
}

fn form_encode(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(k, v)| {
            let v: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={v}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// One HTTP/1.1 request to 127.0.0.1:port; `None` while nothing listens.
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Option<Answer> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let body = form_encode(form);
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some(c) = cookie {
        head.push_str(&format!("Cookie: {c}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let raw = String::from_utf8(raw).expect("answers of webcare are UTF-8");
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_string(),
        raw: raw.clone(),
    })
}

/// `GET path` on 127.0.0.1:port, or `None` while nothing listens there.
pub fn get(port: u16, path: &str) -> Option<Answer> {
    request(port, "GET", path, None, &[], &[])
}
