//! The HTTP client every source shares: timeouts, a cap on body size, and one mapping from
//! HTTP failures (429, 5xx, `Retry-After`, stalls) to [`SourceError`], so platforms don't
//! each reinvent it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};

use super::SourceError;

/// A cheap-to-clone HTTP client with webcare's defaults and one source's limits: how long a
/// request may take, headers and body together, and how large a body may be.
#[derive(Debug, Clone)]
pub struct Client {
    inner: reqwest::Client,
    timeout: Duration,
    max_body: usize,
}

/// A response whose body was read in full, within the size cap.
#[derive(Debug)]
pub struct Fetched {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body bytes.
    pub body: Vec<u8>,
    /// The final URL, after redirects.
    pub url: String,
}

impl Fetched {
    /// A header as text, if present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The error for a status the caller gives no meaning of its own: the status and the URL,
    /// with no delay asked for.
    pub fn unexpected_status(&self) -> SourceError {
        SourceError::Status {
            status: self.status,
            url: self.url.clone(),
            retry_after: None,
        }
    }

    /// Parses the body as JSON into `T`, naming the URL on failure.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, SourceError> {
        serde_json::from_slice(&self.body).map_err(|e| SourceError::Parse {
            url: self.url.clone(),
            message: e.to_string(),
        })
    }
}

impl Client {
    /// Builds a client sending `user_agent` on every request, following redirects only on the
    /// same host.
    pub fn new(user_agent: &str) -> anyhow::Result<Client> {
        Client::with_redirects(user_agent, false)
    }

    /// Builds a client sending `user_agent` on every request; redirects to another host are
    /// followed only when `follow_cross_host` (`[http] follow_cross_host`).
    pub fn with_redirects(user_agent: &str, follow_cross_host: bool) -> anyhow::Result<Client> {
        let inner = reqwest::Client::builder()
            .user_agent(user_agent)
            .redirect(redirect_policy(follow_cross_host))
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()?;
        // The `[http]` defaults; a source's own keys replace them (`SourceKind::from_config`).
        Ok(Client {
            inner,
            timeout: Duration::from_secs(30),
            max_body: 10 << 20,
        })
    }

    /// This client (sharing its connections) with a source's `timeout` and `max_body` (the
    /// common keys every source has), applied to every request it sends.
    pub fn limited(&self, timeout: Duration, max_body: usize) -> Client {
        Client {
            inner: self.inner.clone(),
            timeout,
            max_body,
        }
    }

    /// This client with a smaller body limit, for replies known to be small (a token).
    pub fn capped(&self, max_body: usize) -> Client {
        self.limited(self.timeout, max_body.min(self.max_body))
    }

    /// The largest body this client reads, in bytes.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// The underlying reqwest client, to build requests.
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.inner.request(method, url)
    }

    /// Sends `req`, reads the body up to the client's limit within its timeout (headers and
    /// body together), and turns 429 and 5xx into errors that carry `Retry-After`. Other
    /// statuses, including 304 and 4xx, are returned for the caller to interpret.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<Fetched, SourceError> {
        let fetched = self.fetch(req).await?;
        let retry_after = fetched
            .header(RETRY_AFTER.as_str())
            .and_then(|v| parse_retry_after(v, Utc::now()))
            .or_else(|| match fetched.status {
                // Platforms that send no Retry-After with a 429 say when the window resets.
                429 => rate_limit_reset(&fetched.headers, Utc::now()),
                _ => None,
            });
        match fetched.status {
            429 => Err(SourceError::RateLimited { retry_after }),
            s if s >= 500 => Err(SourceError::Status {
                status: s,
                url: fetched.url,
                retry_after,
            }),
            _ => Ok(fetched),
        }
    }

    /// Like [`Client::send`], but returns every status, 429 and 5xx included, for platforms
    /// whose rate-limit reset lives in their own headers rather than in `Retry-After`.
    pub async fn fetch(&self, req: reqwest::RequestBuilder) -> Result<Fetched, SourceError> {
        let (timeout, max_body) = (self.timeout, self.max_body);
        // A request that cannot be built names its URL in the error text; redact it.
        let req = req.build().map_err(|e| SourceError::Network {
            url: String::new(),
            message: crate::redact::redact_text(&e.to_string()),
        })?;
        let url = redact_url(req.url());
        let work = async {
            let resp = self
                .inner
                .execute(req)
                .await
                .map_err(|e| network_error(&url, e))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            if matches!(status, 301 | 302 | 303 | 307 | 308)
                && let Some(target) = headers.get(LOCATION).and_then(|v| v.to_str().ok())
            {
                // reqwest hands back a redirect it will not follow itself (to `file:`, `ftp:`, …);
                // say so instead of reporting a bare 3xx.
                return Err(SourceError::Network {
                    url: url.clone(),
                    message: RedirectRefused::Scheme {
                        target: crate::redact::redact_url_str(target),
                    }
                    .to_string(),
                });
            }
            if let Some(len) = resp.content_length()
                && len as usize > max_body
            {
                return Err(SourceError::TooLarge {
                    url: url.clone(),
                    limit: max_body,
                });
            }
            let mut body = Vec::new();
            let mut stream = resp.bytes_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| network_error(&url, e))?;
                if body.len() + chunk.len() > max_body {
                    return Err(SourceError::TooLarge {
                        url: url.clone(),
                        limit: max_body,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Fetched {
                status,
                headers,
                body,
                url: url.clone(),
            })
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(SourceError::Timeout {
                url,
                after: timeout,
            }),
        }
    }
}

fn network_error(url: &str, e: reqwest::Error) -> SourceError {
    // reqwest's Display includes the URL with its query string, where API keys may live.
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    // The chain may still quote a URL (a redirect target, a proxy); redact whatever is left.
    SourceError::Network {
        url: url.to_string(),
        message: crate::redact::redact_text(&message),
    }
}

/// The URL as it may appear in logs and the database: credentials in the query or before the
/// host are replaced, so an API key passed as `?key=` never leaks. See [`crate::redact`].
pub fn redact_url(url: &reqwest::Url) -> String {
    crate::redact::redact_url(url)
}

/// Why a redirect was not followed; reqwest reports it as the error's source, so it reaches
/// the per-source error text.
#[derive(Debug, thiserror::Error)]
enum RedirectRefused {
    #[error("refused redirect to {target}: not http or https")]
    Scheme { target: String },
    #[error(
        "refused redirect to {target}: another host than {from}; set [http] follow_cross_host = true to follow redirects across hosts"
    )]
    CrossHost { target: String, from: String },
    #[error("refused redirect to {target}: more than {MAX_REDIRECTS} redirects")]
    TooMany { target: String },
}

/// Redirects followed for one request before giving up.
const MAX_REDIRECTS: usize = 10;

/// `host:port` of `u`, with the scheme's default port filled in.
fn origin_host(u: &reqwest::Url) -> String {
    format!(
        "{}:{}",
        u.host_str().unwrap_or_default().to_ascii_lowercase(),
        u.port_or_known_default().unwrap_or(0)
    )
}

/// Whether a redirect from `from` to `to` stays on the same host: same host and port, or the
/// same host moving from plain http to https on the default ports.
fn same_host(from: &reqwest::Url, to: &reqwest::Url) -> bool {
    if origin_host(from) == origin_host(to) {
        return true;
    }
    let upgrade = from.scheme() == "http"
        && to.scheme() == "https"
        && from.port().is_none()
        && to.port().is_none();
    upgrade
        && from.host_str().map(str::to_ascii_lowercase)
            == to.host_str().map(str::to_ascii_lowercase)
}

/// The redirect rule every source shares: never to a scheme other than http(s) (a feed must not
/// point the daemon at `file://`), and to another host only when `follow_cross_host` (so a feed
/// cannot point the daemon at an internal address).
fn redirect_policy(follow_cross_host: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let target = redact_url(attempt.url());
        if !matches!(attempt.url().scheme(), "http" | "https") {
            return attempt.error(RedirectRefused::Scheme { target });
        }
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(RedirectRefused::TooMany { target });
        }
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        // Every hop is checked against the feed's own host, so two hops cannot launder one.
        if !follow_cross_host && !same_host(first, attempt.url()) {
            let from = first.host_str().unwrap_or_default().to_string();
            return attempt.error(RedirectRefused::CrossHost { target, from });
        }
        attempt.follow()
    })
}

/// Headers in which platforms announce when their rate-limit window resets: Mastodon and
/// Reddit (`X-RateLimit-Reset`), Bluesky (`RateLimit-Reset`), X (`x-rate-limit-reset`).
pub const RATE_LIMIT_RESET_HEADERS: &[&str] =
    &["x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset"];

/// How long until the rate-limit window in `headers` resets, from the first of
/// [`RATE_LIMIT_RESET_HEADERS`] present; see [`parse_rate_limit_reset`].
pub fn rate_limit_reset(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    RATE_LIMIT_RESET_HEADERS.iter().find_map(|h| {
        headers
            .get(*h)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_rate_limit_reset(v, now))
    })
}

/// Parses a rate-limit reset value as platforms send it: an RFC 3339 / ISO 8601 time
/// (Mastodon), epoch seconds (Bluesky, X) or seconds from now (Reddit, which sends fractions).
/// Capped at one day like `Retry-After`.
pub fn parse_rate_limit_reset(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let d = if let Ok(n) = value.parse::<f64>() {
        if !n.is_finite() || n < 0.0 {
            return None;
        }
        // No delay is a billion seconds long: a number that large is a point in time.
        if n >= 1_000_000_000.0 {
            until(DateTime::<Utc>::from_timestamp(n as i64, 0)?, now)
        } else {
            Duration::from_secs_f64(n.ceil())
        }
    } else {
        until(DateTime::parse_from_rfc3339(value).ok()?.to_utc(), now)
    };
    Some(d.min(LONGEST_WAIT))
}

/// Parses a `Retry-After` value: delay seconds or an HTTP date. Caps it at one day so a bogus
/// header cannot silence a source for ever.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let d = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        until(DateTime::parse_from_rfc2822(value).ok()?.to_utc(), now)
    };
    Some(d.min(LONGEST_WAIT))
}

/// The longest wait a platform's header can ask for: one day, so a bogus value cannot silence
/// a source for ever.
const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

/// The time from `now` to `when`; zero when `when` has passed.
fn until(when: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (when - now).to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 25 Nov 2026 10:05:00 GMT", now),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("999999999", now),
            Some(Duration::from_secs(86400))
        );
    }

    #[test]
    fn redacted_urls_hide_keys_but_keep_the_rest() {
        let u = reqwest::Url::parse("https://api.example.com/search?q=fjordlink&key=SECRET123")
            .unwrap();
        let r = redact_url(&u);
        assert!(!r.contains("SECRET123"), "{r}");
        assert!(r.contains("q=fjordlink"), "{r}");
    }
    #[test]
    fn rate_limit_resets_accept_times_epochs_and_delays() {
        let now = DateTime::parse_from_rfc3339("2026-11-25T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_rate_limit_reset("2026-11-25T10:04:00.123Z", now),
            Some(Duration::from_millis(240_123))
        );
        assert_eq!(
            parse_rate_limit_reset(&(now.timestamp() + 90).to_string(), now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_rate_limit_reset("37.4", now),
            Some(Duration::from_secs(38))
        );
        assert_eq!(parse_rate_limit_reset("later", now), None);
    }
}
