//! The table-driven fake platform server the tests share: `fixtures/<platform>/routes.toml` says
//! which request (method, path, query parameters present or missing, headers, body) gets which
//! answer (status, headers, a fixture file or inline body), and [`mount`] turns every route of a
//! table into a wiremock mock. One table per platform, read by the sources' unit tests and by
//! the end-to-end tests in `tests/`, so a request is mapped to a fixture in one place.
//!
//! The file uses nothing from the crate, so `tests/common/mod.rs` includes this very file with
//! `#[path]` (a `#[cfg(test)]` module of the library cannot be reached from `tests/`); in the
//! library it is compiled only for tests. What a table cannot express, Google's token endpoint
//! that checks a signed JWT, is code here ([`mount_google_token`]), shared the same way.
//!
//! A table: `[vars]` are names written `{NAME}` in any string below (`{base_url}` is the
//! server's own URL); `[defaults]` hold headers every route requires and adds; each
//! `[[route]]` may name a `group` (default `main`) so a test mounts only the routes it wants,
//! a `priority` (1 is tried first; wiremock's default is 5), and how many requests it must
//! `expect`.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Deserialize;
use wiremock::matchers::{
    body_json, body_string_contains, header, method, path, query_param, query_param_is_missing,
};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// One platform's routes, as written in its `routes.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    route: Vec<Route>,
}

/// What every route of a table requires of the request and adds to its answer.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    query: BTreeMap<String, String>,
    #[serde(default)]
    reply_headers: BTreeMap<String, String>,
}

/// One request pattern and its answer.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Route {
    /// Default `main`.
    group: Option<String>,
    /// Default `GET`.
    method: Option<String>,
    /// The exact path; absent matches any path.
    path: Option<String>,
    /// Query parameters the request must carry with these values.
    #[serde(default)]
    query: BTreeMap<String, String>,
    /// Query parameters the request must not carry.
    #[serde(default)]
    query_missing: Vec<String>,
    /// Request headers required with these values (on top of the defaults).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// `false`: the defaults do not apply to this route.
    use_defaults: Option<bool>,
    /// The request body must be this JSON value.
    body_json: Option<toml::Value>,
    /// The request body must contain each of these strings.
    #[serde(default)]
    body_contains: Vec<String>,
    /// Default 200.
    status: Option<u16>,
    /// The answer's body: a file in the platform's fixture folder...
    file: Option<String>,
    /// ...or this text.
    body: Option<String>,
    /// Default `application/json`.
    content_type: Option<String>,
    #[serde(default)]
    reply_headers: BTreeMap<String, String>,
    priority: Option<u8>,
    /// How many requests the route must get, checked when the server is dropped; any number
    /// when absent.
    expect: Option<u64>,
}

/// The folder of `platform`'s fixtures.
fn folder(platform: &str) -> String {
    format!("{}/fixtures/{platform}", env!("CARGO_MANIFEST_DIR"))
}

/// The text of `fixtures/<platform>/<name>`; panics naming the file when it cannot be read.
pub fn fixture_text(platform: &str, name: &str) -> String {
    let file = format!("{}/{name}", folder(platform));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {file}: {e}"))
}

/// A reply with `status` and `fixtures/<platform>/<name>` as `application/json`.
pub fn fixture_reply(status: u16, platform: &str, name: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(fixture_text(platform, name), "application/json")
}

/// Reads `fixtures/<platform>/routes.toml`; panics naming the file and the key when it is wrong,
/// so a broken table fails every test that uses it the same way.
fn table(platform: &str) -> Table {
    let file = format!("{}/routes.toml", folder(platform));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {file}: {e}"));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// `s` with every `{NAME}` of `vars` replaced by its value.
fn fill(s: &str, vars: &BTreeMap<String, String>) -> String {
    vars.iter()
        .fold(s.to_string(), |s, (k, v)| s.replace(&format!("{{{k}}}"), v))
}

/// A TOML value as JSON, with `vars` filled into its strings.
fn to_json(v: &toml::Value, vars: &BTreeMap<String, String>) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(fill(s, vars)),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => a.iter().map(|v| to_json(v, vars)).collect(),
        toml::Value::Table(t) => t
            .iter()
            .map(|(k, v)| (k.clone(), to_json(v, vars)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}

/// Starts a fake on 127.0.0.1 serving the `main` routes of `platform`'s table.
pub async fn start(platform: &str) -> MockServer {
    let server = MockServer::start().await;
    mount(&server, platform, "main").await;
    server
}

/// A fake on 127.0.0.1 answering every request, whatever its method or path, with `reply`: a
/// platform that is down or refuses every credential.
pub async fn answering(reply: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(reply)
        .mount(&server)
        .await;
    server
}

/// Mounts the routes of `group` in `platform`'s table on `server`; panics when the group has
/// none, so a misspelt group name cannot leave a test without its fake.
pub async fn mount(server: &MockServer, platform: &str, group: &str) {
    let table = table(platform);
    let mut vars = table.vars.clone();
    vars.insert("base_url".into(), server.uri());
    let mut mounted = 0;
    for route in table
        .route
        .iter()
        .filter(|r| r.group.as_deref().unwrap_or("main") == group)
    {
        mock(platform, route, &table.defaults, &vars)
            .mount(server)
            .await;
        mounted += 1;
    }
    assert!(
        mounted > 0,
        "{platform}/routes.toml has no route in group {group:?}"
    );
}

/// The wiremock mock for one route.
fn mock(
    platform: &str,
    route: &Route,
    defaults: &Defaults,
    vars: &BTreeMap<String, String>,
) -> Mock {
    let none = BTreeMap::new();
    let (default_headers, default_query, default_reply_headers) =
        if route.use_defaults.unwrap_or(true) {
            (&defaults.headers, &defaults.query, &defaults.reply_headers)
        } else {
            (&none, &none, &none)
        };
    let mut m = Mock::given(method(route.method.as_deref().unwrap_or("GET")));
    if let Some(p) = &route.path {
        m = m.and(path(fill(p, vars)));
    }
    for (k, v) in default_query.iter().chain(&route.query) {
        m = m.and(query_param(k.as_str(), fill(v, vars).as_str()));
    }
    for k in &route.query_missing {
        m = m.and(query_param_is_missing(k.as_str()));
    }
    for (k, v) in default_headers.iter().chain(&route.headers) {
        m = m.and(header(k.as_str(), fill(v, vars).as_str()));
    }
    if let Some(body) = &route.body_json {
        m = m.and(body_json(to_json(body, vars)));
    }
    for s in &route.body_contains {
        m = m.and(body_string_contains(fill(s, vars)));
    }
    let body = match (&route.file, &route.body) {
        (Some(file), _) => fixture_text(platform, file),
        (None, Some(text)) => fill(text, vars),
        (None, None) => String::new(),
    };
    let content_type = route.content_type.as_deref().unwrap_or("application/json");
    let mut reply =
        ResponseTemplate::new(route.status.unwrap_or(200)).set_body_raw(body, content_type);
    for (k, v) in default_reply_headers.iter().chain(&route.reply_headers) {
        reply = reply.insert_header(k.as_str(), fill(v, vars).as_str());
    }
    let mut m = m.respond_with(reply);
    if let Some(p) = route.priority {
        m = m.with_priority(p);
    }
    if let Some(n) = route.expect {
        m = m.expect(n);
    }
    m
}

/// Google's OAuth token endpoint for a service account (the JWT bearer grant of RFC 7523) at
/// `/token`: it hands out `access` only to a form with that grant type and an assertion that
/// [`google_assertion_is_valid`] accepts for `scope` and the endpoint's own URL, and must be
/// asked `expect` times when that is given. Code, not a table: a table cannot check a signature.
pub async fn mount_google_token(
    server: &MockServer,
    scope: &str,
    access: &str,
    expect: Option<u64>,
) {
    let aud = format!("{}/token", server.uri());
    let scope = scope.to_string();
    let mut m = Mock::given(method("POST"))
        .and(path("/token"))
        .and(move |r: &wiremock::Request| {
            let form: BTreeMap<String, String> =
                url::form_urlencoded::parse(&r.body).into_owned().collect();
            form.get("grant_type").map(String::as_str)
                == Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
                && form
                    .get("assertion")
                    .is_some_and(|a| google_assertion_is_valid(a, &scope, &aud))
        })
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            format!(r#"{{"access_token":"{access}","expires_in":3599,"token_type":"Bearer"}}"#),
            "application/json",
        ));
    if let Some(n) = expect {
        m = m.expect(n);
    }
    m.mount(server).await;
}

/// True when `assertion` is an RS256 JWT signed with the test service account's key, issued by
/// its `client_email` for `scope` and `aud` within five minutes of now, and not yet expired.
pub fn google_assertion_is_valid(assertion: &str, scope: &str, aud: &str) -> bool {
    use aws_lc_rs::signature::{self, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use rustls_pki_types::PrivatePkcs8KeyDer;
    use rustls_pki_types::pem::PemObject;
    let file: serde_json::Value =
        serde_json::from_str(&fixture_text("google", "test-service-account.json"))
            .expect("the test service account is JSON");
    let der = PrivatePkcs8KeyDer::from_pem_slice(
        file["private_key"].as_str().unwrap_or_default().as_bytes(),
    )
    .expect("the test service account's key is PEM");
    let key = signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .expect("the test service account's key is RSA");
    let public = signature::UnparsedPublicKey::new(
        &signature::RSA_PKCS1_2048_8192_SHA256,
        key.public_key().as_ref().to_vec(),
    );
    let parts: Vec<&str> = assertion.split('.').collect();
    let [h, c, s] = parts[..] else {
        return false;
    };
    let signed = URL_SAFE_NO_PAD
        .decode(s)
        .is_ok_and(|sig| public.verify(format!("{h}.{c}").as_bytes(), &sig).is_ok());
    let Some(claims) = URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return false;
    };
    let now = chrono::Utc::now().timestamp();
    signed
        && claims["iss"] == file["client_email"]
        && claims["scope"] == scope
        && claims["aud"] == aud
        && claims["iat"]
            .as_i64()
            .is_some_and(|t| (t - now).abs() < 300)
        && claims["exp"].as_i64().is_some_and(|t| t > now)
}
