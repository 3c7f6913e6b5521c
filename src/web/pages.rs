//! The inbox's pages and actions: `/login`, `/` (the inbox), `/m/ID` (one mention and the
//! forms that act on it), `/wall` (the praise wall) and `/sources` (the operator's view).
//! Reads and writes go through the store ([`crate::store::Backend`]) on a blocking thread, one
//! connection per request; every POST needs a session and that session's CSRF token, and no
//! GET changes anything.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::{ConnectInfo, Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::WebConfig;
use super::auth::{self, Key, LoginLimiter, SESSION_COOKIE, Session};
use super::links::{LinkCheck, LinkSigner};
use crate::classify::Label;
use crate::config::load::Config;
use crate::store::{
    self, HistoryEntry, InboxStatus, MentionOrder, OptOut, StarRange, StoreError, StoredMention,
};

/// Mentions per inbox page.
pub const PAGE_SIZE: usize = 50;

/// The labels staff can choose.
const LABELS: &[&str] = &["complaint", "question", "praise", "neutral"];

/// What every request handler needs.
pub struct WebState {
    db: PathBuf,
    web: WebConfig,
    key: Key,
    links: LinkSigner,
    limiter: Arc<LoginLimiter>,
    watches: Vec<String>,
    teams: Vec<String>,
    sources: Vec<SourceInfo>,
    /// First-response targets per team, in seconds.
    slas: Vec<(String, i64)>,
}

/// A configured source, as the sources page and the inbox's source menu show it.
#[derive(Clone)]
struct SourceInfo {
    name: String,
    kind: String,
    enabled: bool,
    interval: std::time::Duration,
}

impl WebState {
    /// The state for `config`'s database and `[web]` section, signing with `key`; `limiter`
    /// outlives a reload, so a reload does not forgive failed sign-ins.
    pub fn new(config: &Config, web: WebConfig, key: Key, limiter: Arc<LoginLimiter>) -> WebState {
        WebState {
            db: config.store.path.clone(),
            links: LinkSigner::new(&web.base_url, key.clone(), web.link_ttl),
            key,
            limiter,
            watches: config.watches.iter().map(|w| w.name.clone()).collect(),
            teams: config.notify.teams.iter().map(|t| t.name.clone()).collect(),
            sources: config
                .sources
                .iter()
                .map(|s| SourceInfo {
                    name: s.name.clone(),
                    kind: s.kind.clone(),
                    enabled: s.enabled,
                    interval: s.interval,
                })
                .collect(),
            slas: crate::notify::sla::team_slas(config)
                .into_iter()
                .map(|t| (t.team, t.sla.as_secs() as i64))
                .collect(),
            web,
        }
    }

    /// The signed-in user: from the trusted proxy header when the request came from a trusted
    /// proxy, else from a valid session cookie.
    fn session(&self, headers: &HeaderMap, peer: SocketAddr) -> Option<Session> {
        if let Some(name) = &self.web.trusted_header
            && self.web.trusted_proxies.contains(&peer.ip())
            && let Some(user) = headers.get(name.as_str()).and_then(|v| v.to_str().ok())
        {
            let user = user.trim();
            // A proxy-signed-in user has no cookie; their session (and CSRF token) is tied to
            // their name alone.
            return auth::valid_user_name(user).then(|| Session {
                user: user.to_string(),
                expires: i64::MAX,
            });
        }
        let now = Utc::now().timestamp();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
            .find_map(|v| Session::from_cookie(v, &self.key, now))
            .filter(|s| self.web.users.contains_key(&s.user))
    }

    fn secure_cookies(&self) -> bool {
        self.web.base_url.starts_with("https://")
    }
}

/// The inbox's routes.
pub fn router(state: Arc<WebState>) -> axum::Router {
    axum::Router::new()
        .route("/", get(inbox))
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/m/{id}", get(mention).post(act))
        .route("/wall", get(wall))
        .route("/sources", get(sources))
        .route("/style.css", get(style))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Why a page could not be served.
#[derive(Debug, thiserror::Error)]
enum WebError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot render the page: {0}")]
    Template(#[from] askama::Error),
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    #[error("the page's worker stopped: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let status = match &self {
            WebError::Store(StoreError::NoSuchMention(_)) | WebError::NotFound => {
                StatusCode::NOT_FOUND
            }
            WebError::Store(StoreError::BadQuery { .. }) | WebError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "web inbox request failed");
        }
        let page = MessagePage {
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            message: self.to_string(),
            user: String::new(),
        };
        html(status, page.render().unwrap_or_else(|_| self.to_string()))
    }
}

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    // Pages carry mention text from strangers: no script runs, nothing loads from elsewhere,
    // and no page can be framed (clickjacking on the action buttons).
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Signed links must not leak to the platforms an agent clicks through to.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    r
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// Sends someone without a session to the sign-in page, coming back to `here` after.
/// The signed-in user of a page request. Without one, the request is answered with a redirect
/// to the sign-in page, which comes back to the page asked for (path and query as requested).
struct SignedIn(Session);

impl FromRequestParts<Arc<WebState>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<WebState>,
    ) -> Result<SignedIn, Response> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        peer.and_then(|peer| state.session(&parts.headers, peer))
            .map(SignedIn)
            .ok_or_else(|| to_login(parts.uri.path_and_query().map_or("/", |p| p.as_str())))
    }
}

fn to_login(here: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
    see_other(&format!("/login?next={next}"))
}

/// Only paths on this site are followed after sign-in, never another host.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, WebError> + Send + 'static,
) -> Result<T, WebError> {
    tokio::task::spawn_blocking(f).await?
}

async fn style() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../templates/web/style.css"),
    )
        .into_response()
}

async fn not_found() -> Response {
    WebError::NotFound.into_response()
}

// ---------------------------------------------------------------------------------------------
// Sign-in

#[derive(Template)]
#[template(path = "web/login.html")]
struct LoginPage {
    next: String,
    error: String,
    user: String,
    name: String,
}

#[derive(Template)]
#[template(path = "web/message.html")]
struct MessagePage {
    title: String,
    message: String,
    user: String,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_form(
    State(state): State<Arc<WebState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = safe_next(q.next.as_deref());
    if state.session(&headers, peer).is_some() {
        return Ok(see_other(&next));
    }
    let page = LoginPage {
        next,
        error: String::new(),
        user: String::new(),
        name: String::new(),
    };
    Ok(html(StatusCode::OK, page.render()?))
}

#[derive(Deserialize)]
struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<Arc<WebState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let next = safe_next(form.next.as_deref());
    let failed = |status: StatusCode, error: &str, name: &str| -> Result<Response, WebError> {
        let page = LoginPage {
            next: next.clone(),
            error: error.into(),
            user: String::new(),
            name: name.into(),
        };
        Ok(html(status, page.render()?))
    };
    if let Some(wait) = state.limiter.wait(peer.ip(), Instant::now()) {
        let mut r = failed(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many failed sign-ins from your address. Try again in {} minutes.",
                wait.as_secs().div_ceil(60)
            ),
            &form.user,
        )?;
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs()));
        return Ok(r);
    }
    let name = form.user.trim().to_string();
    // An unknown user still costs one hash check, so timing does not tell which names exist.
    let hash = state.web.users.get(&name).cloned();
    let password = form.password;
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(h) => auth::verify_password(&h, &password),
        None => {
            let _ = auth::hash_password(&password);
            false
        }
    })
    .await?;
    if !ok {
        state.limiter.failed(peer.ip(), Instant::now());
        tracing::info!(user = %auth_log_name(&name), peer = %peer.ip(), "web sign-in refused");
        return failed(
            StatusCode::UNAUTHORIZED,
            "That user name and password do not match.",
            &name,
        );
    }
    state.limiter.succeeded(peer.ip());
    let ttl = state.web.session_ttl;
    let session = Session {
        user: name.clone(),
        expires: Utc::now().timestamp() + ttl.as_secs() as i64,
    };
    tracing::info!(user = %name, "signed in to the web inbox");
    let mut r = see_other(&next);
    let cookie = auth::session_cookie(
        Some(&session.cookie_value(&state.key)),
        ttl,
        state.secure_cookies(),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// A user name as typed, safe for a log line.
fn auth_log_name(name: &str) -> String {
    if auth::valid_user_name(name) {
        name.to_string()
    } else {
        "(not a valid name)".into()
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(state): State<Arc<WebState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(s) = state.session(&headers, peer)
        && !s.csrf_ok(&state.key, &form.csrf)
    {
        return forbidden();
    }
    let mut r = see_other("/login");
    let cookie = auth::session_cookie(None, state.web.session_ttl, state.secure_cookies());
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn forbidden() -> Response {
    let page = MessagePage {
        title: "Forbidden".into(),
        message: "This form is out of date or did not come from the inbox (its security token \
                  does not match). Go back, reload the page and try again."
            .into(),
        user: String::new(),
    };
    html(
        StatusCode::FORBIDDEN,
        page.render().unwrap_or_else(|_| "forbidden".into()),
    )
}

// ---------------------------------------------------------------------------------------------
// Shared view pieces

/// An option in a menu.
struct Choice {
    value: String,
    text: String,
    selected: bool,
}

fn choices(values: &[String], current: &str, any: &str) -> Vec<Choice> {
    let mut out = vec![Choice {
        value: String::new(),
        text: any.into(),
        selected: current.is_empty(),
    }];
    out.extend(values.iter().map(|v| Choice {
        value: v.clone(),
        text: v.clone(),
        selected: v == current,
    }));
    out
}

/// A select's options from `(value, text)` pairs, `current` selected.
fn fixed_choices(options: &[(&str, &str)], current: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(v, t)| Choice {
            value: v.to_string(),
            text: t.to_string(),
            selected: *v == current,
        })
        .collect()
}

/// One mention in a list.
struct RowView {
    id: i64,
    label: String,
    corrected: bool,
    urgent: bool,
    spam: bool,
    age: String,
    posted: String,
    author: String,
    platform: String,
    /// A review's star rating ("★☆☆☆☆ 1 of 5 stars"); empty for posts and comments.
    stars: String,
    title: String,
    snippet: String,
    claimed_by: String,
    answered: String,
    lang: String,
    teams: String,
    /// Time left to the first-response target, or how far past it; empty without a target.
    sla: String,
    sla_missed: bool,
}

/// The first-response deadline of an open complaint or question: the shortest target of the
/// teams it was routed to, from when webcare found it.
fn deadline(r: &StoredMention, slas: &[(String, i64)]) -> Option<i64> {
    let open = r.handling.answered_at.is_none()
        && !r.verdict.is_spam()
        && matches!(r.verdict.label, Some(Label::Complaint | Label::Question));
    if !open {
        return None;
    }
    let sla = slas
        .iter()
        .filter(|(team, _)| r.handling.teams.contains(team))
        .map(|(_, s)| *s)
        .min()?;
    Some(r.fetched_at + sla)
}

fn row_view(r: &StoredMention, now: i64, slas: &[(String, i64)]) -> RowView {
    let due = deadline(r, slas);
    let snippet: String = r.mention.text.chars().take(240).collect();
    RowView {
        id: r.id,
        label: r.verdict.label_word().into(),
        corrected: r.label_corrected(),
        urgent: r.verdict.is_urgent(),
        spam: r.verdict.is_spam(),
        age: age(now - r.created_at()),
        posted: when(r.created_at()),
        author: author(
            r.mention.author_name.as_deref(),
            r.mention.author_handle.as_deref(),
        ),
        platform: if r.kind == r.source {
            r.kind.clone()
        } else {
            format!("{} · {}", r.kind, r.source)
        },
        stars: r
            .mention
            .rating
            .and_then(crate::notify::card::stars)
            .unwrap_or_default(),
        title: r.mention.title.clone().unwrap_or_default(),
        snippet: if snippet.len() < r.mention.text.len() {
            format!("{}…", snippet.trim_end())
        } else {
            snippet
        },
        claimed_by: r.handling.claimed_by.clone().unwrap_or_default(),
        answered: match (&r.handling.answered_by, r.handling.answered_at) {
            (Some(by), Some(_)) => by.clone(),
            (None, Some(_)) => "staff".into(),
            _ => String::new(),
        },
        lang: r.mention.lang.clone().unwrap_or_default(),
        teams: r.handling.teams.join(", "),
        sla: match due {
            Some(d) if d >= now => format!("{} left", age(d - now)),
            Some(d) => format!("SLA missed by {}", age(now - d)),
            None => String::new(),
        },
        sla_missed: due.is_some_and(|d| d < now),
    }
}

fn author(name: Option<&str>, handle: Option<&str>) -> String {
    match (name, handle) {
        (Some(n), Some(h)) if n != h && !h.contains(' ') => format!("{n} (@{h})"),
        (_, Some(h)) if !h.contains(' ') => format!("@{h}"),
        (_, Some(h)) => h.to_string(),
        (Some(n), None) => n.to_string(),
        (None, None) => "unknown author".into(),
    }
}

/// A short age: `45s`, `12m`, `3h`, `5d`.
fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn when(ts: i64) -> String {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

fn opt(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// The inbox

#[derive(Deserialize, Default, Clone)]
struct InboxQuery {
    status: Option<String>,
    watch: Option<String>,
    source: Option<String>,
    label: Option<String>,
    lang: Option<String>,
    team: Option<String>,
    stars: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    page: Option<String>,
}

impl InboxQuery {
    /// The query string for the same filters on page `page`.
    fn with_page(&self, page: usize) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("status", &self.status),
            ("watch", &self.watch),
            ("source", &self.source),
            ("label", &self.label),
            ("lang", &self.lang),
            ("team", &self.team),
            ("stars", &self.stars),
            ("since", &self.since),
            ("until", &self.until),
            ("q", &self.q),
        ] {
            if let Some(v) = opt(v) {
                s.append_pair(k, &v);
            }
        }
        if page > 1 {
            s.append_pair("page", &page.to_string());
        }
        let query = s.finish();
        if query.is_empty() {
            "/".into()
        } else {
            format!("/?{query}")
        }
    }
}

fn parse_day(key: &str, v: &Option<String>) -> Result<Option<i64>, WebError> {
    let Some(v) = opt(v) else { return Ok(None) };
    chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc().timestamp()))
        .ok_or_else(|| {
            WebError::BadRequest(format!("{key}: \"{v}\" is not a date such as 2026-11-20"))
        })
}

/// `stars=2` or `stars=1-2`: star ratings from 1 to 5.
fn parse_stars(v: &Option<String>) -> Result<Option<StarRange>, WebError> {
    opt(v)
        .map(|v| {
            v.parse()
                .map_err(|e| WebError::BadRequest(format!("stars: {e}")))
        })
        .transpose()
}

/// The star filter's choices; none when no configured source gives ratings.
fn star_choices(state: &WebState, current: &str) -> Vec<Choice> {
    if !state
        .sources
        .iter()
        .any(|s| crate::sources::gives_ratings(&s.kind))
    {
        return Vec::new();
    }
    fixed_choices(
        &[
            ("", "All ratings"),
            ("1-2", "1–2 stars"),
            ("3", "3 stars"),
            ("4-5", "4–5 stars"),
        ],
        current,
    )
}

#[derive(Template)]
#[template(path = "web/inbox.html")]
struct InboxPage {
    user: String,
    csrf: String,
    rows: Vec<RowView>,
    statuses: Vec<Choice>,
    watches: Vec<Choice>,
    sources: Vec<Choice>,
    labels: Vec<Choice>,
    langs: Vec<Choice>,
    teams: Vec<Choice>,
    /// Empty when no source gives star ratings.
    stars: Vec<Choice>,
    since: String,
    until: String,
    q: String,
    error: String,
    page: usize,
    prev_url: String,
    next_url: String,
    heading: String,
}

async fn inbox(
    State(state): State<Arc<WebState>>,
    SignedIn(session): SignedIn,
    Query(q): Query<InboxQuery>,
) -> Result<Response, WebError> {
    let st = state.clone();
    blocking(move || {
        let page = render_inbox(&st, &session, &q, Utc::now().timestamp())?;
        Ok(html(StatusCode::OK, page))
    })
    .await
}

/// The mentions one inbox page lists (one more than a page, to know whether there is a next),
/// or `None` when the label asked for is not one webcare gives.
fn inbox_query(
    q: &InboxQuery,
    status: InboxStatus,
    page_no: usize,
) -> Result<Option<crate::store::MentionQuery>, WebError> {
    let mut query = crate::store::MentionQuery::new()
        .status(status)
        .unstripped()
        .order(MentionOrder::Inbox)
        .offset((page_no - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1);
    if let Some(since) = parse_day("since", &q.since)? {
        query = query.since(since);
    }
    if let Some(until) = parse_day("until", &q.until)? {
        query = query.until(until + 86_400);
    }
    if let Some(w) = opt(&q.watch) {
        query = query.watch(w);
    }
    if let Some(s) = opt(&q.source) {
        query = query.source_or_kind(s);
    }
    if let Some(l) = opt(&q.lang) {
        query = query.lang(l);
    }
    if let Some(t) = opt(&q.team) {
        query = query.team(t);
    }
    if let Some(stars) = parse_stars(&q.stars)? {
        query = query.stars(stars);
    }
    if let Some(s) = opt(&q.q) {
        query = query.search(s);
    }
    match opt(&q.label).map(|l| l.parse::<Label>()) {
        Some(Ok(label)) => Ok(Some(query.label(label))),
        Some(Err(_)) => Ok(None),
        None => Ok(Some(query)),
    }
}

/// Renders one inbox page for `session` (also used by the bench).
fn render_inbox(
    state: &WebState,
    session: &Session,
    q: &InboxQuery,
    now: i64,
) -> Result<String, WebError> {
    let page_no: usize = opt(&q.page)
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    let status = match opt(&q.status).as_deref() {
        None | Some("open") => InboxStatus::Open,
        Some("answered") => InboxStatus::Answered,
        Some("all") => InboxStatus::All,
        Some(other) => {
            return Err(WebError::BadRequest(format!(
                "status: \"{other}\" is not open, answered or all"
            )));
        }
    };
    let store = store::open_reader(&state.db)?;
    let query = inbox_query(q, status, page_no)?;
    let (mut found, error) = match query.map(|q| store.mentions(&q)) {
        None => (Vec::new(), String::new()),
        Some(Ok(rows)) => (rows, String::new()),
        Some(Err(e @ StoreError::BadQuery { .. })) => (Vec::new(), e.to_string()),
        Some(Err(e)) => return Err(e.into()),
    };
    let more = found.len() > PAGE_SIZE;
    found.truncate(PAGE_SIZE);
    let langs = store.inbox_languages()?;
    let mut source_names: Vec<String> = state.sources.iter().map(|s| s.name.clone()).collect();
    let mut kinds: Vec<String> = state.sources.iter().map(|s| s.kind.clone()).collect();
    kinds.sort();
    kinds.dedup();
    kinds.retain(|k| !source_names.contains(k));
    source_names.extend(kinds);
    let current = |v: &Option<String>| opt(v).unwrap_or_default();
    let status_value = match status {
        InboxStatus::Open => "open",
        InboxStatus::Answered => "answered",
        InboxStatus::All => "all",
    };
    let statuses = fixed_choices(
        &[
            ("open", "Open complaints and questions"),
            ("answered", "Answered"),
            ("all", "Everything"),
        ],
        status_value,
    );
    let labels: Vec<String> = LABELS.iter().map(|l| l.to_string()).collect();
    let heading = match (status, found.len(), page_no) {
        (InboxStatus::Open, 0, 1) => {
            "Nothing open: every complaint and question is answered.".into()
        }
        (_, 0, _) => "No mentions match these filters.".into(),
        (_, n, p) => format!(
            "{}–{}{}",
            (p - 1) * PAGE_SIZE + 1,
            (p - 1) * PAGE_SIZE + n,
            if more { " and more" } else { "" }
        ),
    };
    let page = InboxPage {
        csrf: session.csrf_token(&state.key),
        user: session.user.clone(),
        rows: found
            .iter()
            .map(|r| row_view(r, now, &state.slas))
            .collect(),
        statuses,
        watches: choices(&state.watches, &current(&q.watch), "All watches"),
        sources: choices(&source_names, &current(&q.source), "All sources"),
        labels: choices(&labels, &current(&q.label), "All labels"),
        langs: choices(&langs, &current(&q.lang), "All languages"),
        teams: choices(&state.teams, &current(&q.team), "All teams"),
        stars: star_choices(state, &current(&q.stars)),
        since: current(&q.since),
        until: current(&q.until),
        q: current(&q.q),
        error,
        page: page_no,
        prev_url: if page_no > 1 {
            q.with_page(page_no - 1)
        } else {
            String::new()
        },
        next_url: if more {
            q.with_page(page_no + 1)
        } else {
            String::new()
        },
        heading,
    };
    Ok(page.render()?)
}

// ---------------------------------------------------------------------------------------------
// One mention

#[derive(Template)]
#[template(path = "web/mention.html")]
struct MentionPage {
    user: String,
    csrf: String,
    id: i64,
    row: RowView,
    full_text: String,
    url: String,
    in_reply_to: String,
    watches: String,
    sentiment: String,
    reasons: Vec<ReasonView>,
    urgency_reasons: Vec<String>,
    routes: Vec<RouteView>,
    alerts: Vec<AlertView>,
    history: Vec<HistoryView>,
    thread: Vec<RowView>,
    claimed: String,
    answered: String,
    pinned: bool,
    opted_out: bool,
    can_opt_out: bool,
    labels: Vec<Choice>,
    preselect: String,
    preselect_words: String,
    link_problem: String,
    done: String,
}

struct ReasonView {
    kind: String,
    cue: String,
    text: String,
    weight: usize,
}

struct RouteView {
    rule: String,
    team: String,
    why: String,
}

struct AlertView {
    team: String,
    recipient: String,
    state: String,
    channel: String,
    queued: String,
    sent: String,
}

struct HistoryView {
    action: String,
    detail: String,
    by: String,
    at: String,
}

#[derive(Deserialize, Default)]
struct MentionQuery {
    #[serde(rename = "do")]
    action: Option<String>,
    exp: Option<String>,
    sig: Option<String>,
    done: Option<String>,
}

async fn mention(
    State(state): State<Arc<WebState>>,
    SignedIn(session): SignedIn,
    Path(id): Path<String>,
    Query(q): Query<MentionQuery>,
) -> Result<Response, WebError> {
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let st = state.clone();
    blocking(move || {
        let now = Utc::now().timestamp();
        let (status, body) = render_mention(&st, &session, id, &q, now)?;
        Ok(html(status, body))
    })
    .await
}

/// The routing decisions stored with a mention (JSON objects with rule, team and why).
fn route_entries(route: Option<&str>) -> Vec<serde_json::Value> {
    route
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

/// What a one-click link asks for, honoured only when its signature holds: the page's status,
/// the action to pre-select and, for a link that is expired or not webcare's, what to tell.
fn check_action_link(
    state: &WebState,
    id: i64,
    q: &MentionQuery,
    now: i64,
) -> (StatusCode, String, String) {
    let mut status = StatusCode::OK;
    let (mut preselect, mut link_problem) = (String::new(), String::new());
    if let Some(action) = opt(&q.action) {
        let exp: i64 = opt(&q.exp).and_then(|e| e.parse().ok()).unwrap_or(0);
        let sig = opt(&q.sig).unwrap_or_default();
        match state.links.check(id, &action, exp, &sig, now) {
            LinkCheck::Valid => preselect = action,
            LinkCheck::Expired => {
                status = StatusCode::GONE;
                link_problem = "The link you followed has expired, so no action is pre-selected. \
                                Choose one below."
                    .into();
            }
            LinkCheck::Invalid => {
                status = StatusCode::FORBIDDEN;
                link_problem = "The link you followed was changed or did not come from webcare, \
                                so no action is pre-selected. Choose one below."
                    .into();
            }
        }
    }
    (status, preselect, link_problem)
}

/// The classifier's reasons, each once with how often it was found.
fn reason_views(verdict: &serde_json::Value) -> Vec<ReasonView> {
    let mut reasons: Vec<ReasonView> = Vec::new();
    for r in verdict["reasons"].as_array().into_iter().flatten() {
        let (kind, cue, text) = (
            r["kind"].as_str().unwrap_or_default(),
            r["cue"].as_str().unwrap_or_default(),
            r["text"].as_str().unwrap_or_default(),
        );
        match reasons
            .iter_mut()
            .find(|x| x.kind == kind && x.cue == cue && x.text == text)
        {
            Some(x) => x.weight += 1,
            None => reasons.push(ReasonView {
                kind: kind.into(),
                cue: cue.into(),
                text: text.into(),
                weight: 1,
            }),
        }
    }
    reasons
}

/// Why the classifier called the mention urgent, each reason once.
fn urgency_reasons(verdict: &serde_json::Value) -> Vec<String> {
    let mut urgency_reasons: Vec<String> = Vec::new();
    for r in verdict["urgency_reasons"].as_array().into_iter().flatten() {
        if let Some(r) = r
            .as_str()
            .filter(|r| !urgency_reasons.iter().any(|u| u == r))
        {
            urgency_reasons.push(r.to_string());
        }
    }
    urgency_reasons
}

/// The routing rules that matched a mention, from its stored routing record.
fn route_views(route: Option<&str>) -> Vec<RouteView> {
    route_entries(route)
        .iter()
        .map(|m| RouteView {
            rule: m["rule"].as_str().unwrap_or_default().into(),
            team: m["team"].as_str().unwrap_or("(no team)").into(),
            why: m["why"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|w| w.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        })
        .collect()
}

/// The relabel choices, with the mention's current `label` selected.
fn label_choices(label: &str) -> Vec<Choice> {
    LABELS
        .iter()
        .map(|l| Choice {
            value: l.to_string(),
            text: l.to_string(),
            selected: *l == label,
        })
        .collect()
}

fn render_mention(
    state: &WebState,
    session: &Session,
    id: i64,
    q: &MentionQuery,
    now: i64,
) -> Result<(StatusCode, String), WebError> {
    let store = store::open_reader(&state.db)?;
    let Some(extras) = store.mention_extras(id)? else {
        return Err(WebError::NotFound);
    };
    let m = store.mention(id)?.ok_or(StoreError::NoSuchMention(id))?;

    let (status, preselect, link_problem) = check_action_link(state, id, q, now);
    let preselect_words = super::links::ACTIONS
        .iter()
        .find(|(a, _)| *a == preselect)
        .map(|(_, w)| w.to_string())
        .unwrap_or_default();
    let verdict = m.verdict.reasons.clone().unwrap_or_default();
    let reasons = reason_views(&verdict);
    let urgency_reasons = urgency_reasons(&verdict);
    let routes = route_views(extras.route.as_deref());
    let alerts = store
        .alerts_of(id)?
        .into_iter()
        .map(|a| AlertView {
            team: format!("{} ({})", a.team, a.rule),
            recipient: a.recipient,
            state: a.state,
            channel: a.channel,
            queued: when(a.created_at),
            sent: a.sent_at.map(when).unwrap_or_default(),
        })
        .collect();
    let history = store
        .history_of(id)?
        .into_iter()
        .map(|h| HistoryView {
            action: h.action,
            detail: h.detail.unwrap_or_default(),
            by: h.by,
            at: when(h.at),
        })
        .collect();
    let thread = crate::store::MentionQuery::new().thread_of(id).limit(20);
    let thread = store
        .mentions(&thread.order(MentionOrder::Oldest))?
        .iter()
        .map(|r| row_view(r, now, &state.slas))
        .collect();
    let labels = label_choices(m.verdict.label.map(Label::as_str).unwrap_or_default());
    let page = MentionPage {
        csrf: session.csrf_token(&state.key),
        user: session.user.clone(),
        id,
        row: row_view(&m, now, &state.slas),
        full_text: m.mention.text.clone(),
        url: crate::notify::mail::safe_link(m.mention.url.as_deref())
            .unwrap_or_default()
            .to_string(),
        in_reply_to: m.mention.in_reply_to.clone().unwrap_or_default(),
        watches: m.watches.join(", "),
        sentiment: m
            .verdict
            .sentiment
            .map(|s| format!("{s:+.2}"))
            .unwrap_or_default(),
        reasons,
        urgency_reasons,
        routes,
        alerts,
        history,
        thread,
        claimed: extras
            .claimed
            .as_ref()
            .map(|(by, at)| format!("{by}, {}", when(*at)))
            .unwrap_or_default(),
        answered: extras
            .answered
            .as_ref()
            .map(|(by, at)| format!("{by}, {}", when(*at)))
            .unwrap_or_default(),
        pinned: extras.pinned_at.is_some(),
        opted_out: extras.opted_out,
        can_opt_out: m
            .mention
            .author_handle
            .as_deref()
            .is_some_and(|h| !h.trim().is_empty()),
        labels,
        preselect,
        preselect_words,
        link_problem,
        done: opt(&q.done).unwrap_or_default(),
    };
    Ok((status, page.render()?))
}

#[derive(Deserialize)]
struct ActionForm {
    csrf: String,
    action: String,
    label: Option<String>,
}

async fn act(
    State(state): State<Arc<WebState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Response, WebError> {
    let Some(session) = state.session(&headers, peer) else {
        return Ok(to_login(&format!("/m/{id}")));
    };
    if !session.csrf_ok(&state.key, &form.csrf) {
        tracing::warn!(user = %session.user, peer = %peer.ip(), "web action refused: CSRF token does not match");
        return Ok(forbidden());
    }
    let id: i64 = id.parse().map_err(|_| WebError::NotFound)?;
    let st = state.clone();
    blocking(move || {
        apply_action(&st, &session.user, id, &form, Utc::now().timestamp())?;
        Ok(see_other(&format!("/m/{id}?done={}", form.action)))
    })
    .await
}

/// Does what the form asks and records it in the mention's history.
fn apply_action(
    state: &WebState,
    user: &str,
    id: i64,
    form: &ActionForm,
    now: i64,
) -> Result<(), WebError> {
    let mut store = store::open(&state.db)?;
    let extras = store
        .mention_extras(id)?
        .ok_or(StoreError::NoSuchMention(id))?;
    let detail: Option<String> = match form.action.as_str() {
        "claim" => {
            store.set_claim(id, Some(user), now)?;
            None
        }
        "unclaim" => {
            store.set_claim(id, None, now)?;
            extras.claimed.map(|c| format!("was claimed by {}", c.0))
        }
        "answered" => {
            store.mark_answered(id, true, user, now)?;
            None
        }
        "unanswered" => {
            store.mark_answered(id, false, user, now)?;
            None
        }
        "label" => {
            let label: crate::classify::Label =
                form.label
                    .as_deref()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|e| WebError::BadRequest(format!("label: {e}")))?;
            // The same place `webcare label` records corrections, so the classifier's
            // training export (`webcare label --export`) includes it.
            let previous = store.correct_label(id, label.as_str(), user)?;
            Some(format!(
                "{} → {}",
                previous.as_deref().unwrap_or("unclassified"),
                label.as_str()
            ))
        }
        "optout" | "contact" => {
            let m = store.mention(id)?.ok_or(StoreError::NoSuchMention(id))?;
            let Some(handle) = m.mention.author_handle.filter(|h| !h.trim().is_empty()) else {
                return Err(WebError::BadRequest(
                    "this mention has no author handle to put on the do-not-contact list".into(),
                ));
            };
            let (p, h) = crate::store::optout_key(&m.kind, &handle);
            if form.action == "optout" {
                store.add_optout(&OptOut::new(&p, &h, user, now))?;
            } else {
                store.remove_optout(&p, &h)?;
            }
            Some(format!("{p}:{h}"))
        }
        "spam" => {
            store.set_spam(id, true)?;
            None
        }
        "notspam" => {
            store.set_spam(id, false)?;
            None
        }
        "pin" => {
            store.set_pinned(id, true, now)?;
            None
        }
        "unpin" => {
            store.set_pinned(id, false, now)?;
            None
        }
        other => {
            return Err(WebError::BadRequest(format!(
                "action \"{}\" is unknown",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    let entry = HistoryEntry {
        action: form.action.clone(),
        detail,
        by: user.to_string(),
        at: now,
    };
    store.record_action(id, &entry)?;
    tracing::info!(mention = id, action = %form.action, user = %user, "web action");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The praise wall

#[derive(Template)]
#[template(path = "web/wall.html")]
struct WallPage {
    cards: Vec<CardView>,
}

struct CardView {
    id: i64,
    author: String,
    platform: String,
    title: String,
    text: String,
    age: String,
    pinned: bool,
}

async fn wall(
    State(state): State<Arc<WebState>>,
    _signed_in: SignedIn,
) -> Result<Response, WebError> {
    let st = state.clone();
    blocking(move || {
        let store = store::open_reader(&st.db)?;
        let now = Utc::now().timestamp();
        let wall = store::MentionQuery::new()
            .wall()
            .order(MentionOrder::Wall)
            .limit(12);
        let cards = store
            .mentions(&wall)?
            .into_iter()
            .map(|c| CardView {
                id: c.id,
                author: author(
                    c.mention.author_name.as_deref(),
                    c.mention.author_handle.as_deref(),
                ),
                age: age(now - c.created_at()),
                platform: if c.kind == c.source {
                    c.kind
                } else {
                    format!("{} · {}", c.kind, c.source)
                },
                title: c.mention.title.unwrap_or_default(),
                text: c.mention.text.chars().take(600).collect(),
                pinned: c.handling.pinned_at.is_some(),
            })
            .collect();
        Ok(html(StatusCode::OK, WallPage { cards }.render()?))
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Sources and health

#[derive(Template)]
#[template(path = "web/sources.html")]
struct SourcesPage {
    user: String,
    csrf: String,
    rows: Vec<SourceView>,
    pending: i64,
    sent: i64,
    dead: i64,
    held: i64,
}

struct SourceView {
    name: String,
    kind: String,
    state: String,
    last_success: String,
    last_error: String,
    next_poll: String,
    today: i64,
    total: i64,
    every: String,
}

fn relative(ts: Option<i64>, now: i64) -> String {
    match ts {
        None => "never".into(),
        Some(t) if t <= now => format!("{} ago", age(now - t)),
        Some(t) => format!("in {}", age(t - now)),
    }
}

async fn sources(
    State(state): State<Arc<WebState>>,
    SignedIn(session): SignedIn,
) -> Result<Response, WebError> {
    let st = state.clone();
    blocking(move || {
        let store = store::open_reader(&st.db)?;
        let now = Utc::now().timestamp();
        let states: HashMap<String, crate::store::SourceState> = store
            .source_states()?
            .into_iter()
            .map(|s| (s.source.clone(), s))
            .collect();
        let rows = st
            .sources
            .iter()
            .map(|s| {
                let x = states.get(&s.name).cloned().unwrap_or_default();
                SourceView {
                    name: s.name.clone(),
                    kind: s.kind.clone(),
                    state: x.state_name(s.enabled).into(),
                    last_success: relative(x.last_success_at, now),
                    last_error: x
                        .last_error
                        .map(|e| {
                            format!(
                                "{e} ({} in a row, {})",
                                x.consecutive_failures,
                                relative(x.last_error_at, now)
                            )
                        })
                        .unwrap_or_default(),
                    next_poll: if s.enabled {
                        relative(x.next_poll_at, now)
                    } else {
                        "-".into()
                    },
                    today: x.stored_today,
                    total: x.items_stored,
                    every: humantime::format_duration(s.interval).to_string(),
                }
            })
            .collect();
        let (pending, sent, dead) = store.outbox_counts()?;
        let page = SourcesPage {
            csrf: session.csrf_token(&st.key),
            user: session.user.clone(),
            rows,
            pending,
            sent,
            dead,
            held: store.held_count()?,
        };
        Ok(html(StatusCode::OK, page.render()?))
    })
    .await
}

/// Renders the inbox page that `query` (a URL query string such as `label=question&page=2`)
/// asks for, for `user`, as the daemon would, opening the database as a request does: for
/// the bench, which measures it on a large store.
pub fn render_inbox_for(config: &Config, user: &str, query: &str) -> anyhow::Result<String> {
    let web = config
        .web
        .clone()
        .ok_or_else(|| anyhow::anyhow!("the config has no [web] section"))?;
    let key = Key::new(&[7u8; 32]);
    let state = WebState::new(config, web, key, Arc::default());
    let session = Session {
        user: user.into(),
        expires: i64::MAX,
    };
    let mut q = InboxQuery::default();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        let v = Some(v.into_owned());
        match k.as_ref() {
            "status" => q.status = v,
            "watch" => q.watch = v,
            "source" => q.source = v,
            "label" => q.label = v,
            "lang" => q.lang = v,
            "team" => q.team = v,
            "since" => q.since = v,
            "until" => q.until = v,
            "q" => q.q = v,
            "page" => q.page = v,
            other => anyhow::bail!("unknown inbox parameter {other:?}"),
        }
    }
    render_inbox(&state, &session, &q, Utc::now().timestamp()).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/m/3?do=claim")), "/m/3?do=claim");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn ages_are_short() {
        assert_eq!(age(59), "59s");
        assert_eq!(age(3599), "59m");
        assert_eq!(age(7200), "2h");
        assert_eq!(age(3 * 86_400), "3d");
        assert_eq!(age(-5), "0s");
    }
}
