//! Google OAuth 2.0 access tokens for the Google sources (`google_play`, `google_business`):
//! a service account's signed JWT exchanged at the token endpoint (RFC 7523, the flow Google's
//! client libraries use for server-to-server calls), or an owner's refresh token.
//!
//! Tokens live about an hour; one is kept in memory until a minute before it expires, never
//! stored, and dropped when an API answers 401 so the next request fetches a fresh one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::SourceError;
use super::http::{Client, Fetched};
use crate::config::ConfigErrors;
use crate::secret::Secret;

/// Google's token endpoint, used when neither the config nor the key file names another.
pub(crate) const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// How long a signed assertion is valid; Google accepts at most an hour.
const ASSERTION_LIFETIME: i64 = 3600;

/// A service account key file as the Google Cloud console downloads it; only the fields the
/// JWT flow needs are read.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

/// A parsed service account key: who signs, and the RSA key it signs with.
pub struct ServiceAccount {
    client_email: String,
    key_id: Option<String>,
    key: aws_lc_rs::signature::RsaKeyPair,
    token_uri: Option<String>,
}

impl std::fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl ServiceAccount {
    /// Parses the key file's text; problems are recorded under `path.key` without quoting any
    /// of the file.
    pub(crate) fn parse(
        json: &Secret,
        path: &str,
        key: &str,
        errors: &mut ConfigErrors,
    ) -> Option<ServiceAccount> {
        let file: KeyFile = match serde_json::from_str(json.expose()) {
            Ok(f) => f,
            Err(e) => {
                errors.push(
                    format!("{path}.{key}"),
                    format!(
                        "not a service account key file (JSON with client_email and private_key): {}",
                        // serde's message names the field or position, never the value.
                        e.to_string().split(" at line").next().unwrap_or_default()
                    ),
                );
                return None;
            }
        };
        if file.kind.as_deref().is_some_and(|k| k != "service_account") {
            errors.push(
                format!("{path}.{key}"),
                "the key file's \"type\" is not \"service_account\"; download a JSON key of a service account (IAM → Service accounts → Keys)",
            );
            return None;
        }
        use rustls_pki_types::PrivatePkcs8KeyDer;
        use rustls_pki_types::pem::PemObject;
        let parsed = PrivatePkcs8KeyDer::from_pem_slice(file.private_key.as_bytes())
            .ok()
            .and_then(|der| {
                aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).ok()
            });
        let Some(rsa) = parsed else {
            errors.push(
                format!("{path}.{key}"),
                "the key file's private_key is not a PEM PKCS#8 RSA key",
            );
            return None;
        };
        Some(ServiceAccount {
            client_email: file.client_email,
            key_id: file.private_key_id,
            key: rsa,
            token_uri: file.token_uri,
        })
    }

    /// The service account's e-mail address, for `check-config`.
    pub(crate) fn email(&self) -> &str {
        &self.client_email
    }

    /// A signed RS256 JWT asking `aud` for a token with `scope`, issued at `now` (Unix seconds).
    fn assertion(&self, scope: &str, aud: &str, now: i64) -> Result<String, SourceError> {
        let mut header = serde_json::json!({ "alg": "RS256", "typ": "JWT" });
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.clone().into();
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": scope,
            "aud": aud,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| SourceError::Auth("cannot sign the service account assertion".into()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

/// How a source gets its access tokens.
pub(crate) enum Grant {
    /// A service account's JWT, for `scope`.
    ServiceAccount {
        account: ServiceAccount,
        scope: &'static str,
    },
    /// An OAuth client's refresh token, granted once by the owner of the account.
    RefreshToken {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
    },
}

/// Access tokens for one source, fetched when needed and kept in memory.
pub(crate) struct GoogleAuth {
    grant: Grant,
    token_url: String,
    client: Client,
    /// Source kind and the config keys of the credentials, for error messages.
    kind: &'static str,
    keys: &'static str,
    cached: Mutex<Option<(Secret, Instant)>>,
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    error_description: Option<String>,
}

impl GoogleAuth {
    /// Token source for `grant`; `token_url` overrides the service account key's `token_uri`
    /// (and Google's endpoint). `kind` and `keys` name the source and its credential keys in
    /// errors.
    pub(crate) fn new(
        grant: Grant,
        token_url: Option<&str>,
        client: Client,
        kind: &'static str,
        keys: &'static str,
    ) -> GoogleAuth {
        let from_key = match &grant {
            Grant::ServiceAccount { account, .. } => account.token_uri.clone(),
            Grant::RefreshToken { .. } => None,
        };
        let token_url = token_url
            .map(str::to_string)
            .or(from_key)
            .unwrap_or_else(|| GOOGLE_TOKEN_URL.to_string());
        GoogleAuth {
            grant,
            token_url,
            client,
            kind,
            keys,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token: the kept one, or a new one from the token endpoint.
    pub(crate) async fn token(&self) -> Result<Secret, SourceError> {
        if let Ok(guard) = self.cached.lock()
            && let Some((token, until)) = guard.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let form: Vec<(&str, String)> = match &self.grant {
            Grant::ServiceAccount { account, scope } => vec![
                (
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:jwt-bearer".into(),
                ),
                (
                    "assertion",
                    account.assertion(scope, &self.token_url, chrono::Utc::now().timestamp())?,
                ),
            ],
            Grant::RefreshToken {
                client_id,
                client_secret,
                refresh_token,
            } => vec![
                ("grant_type", "refresh_token".into()),
                ("client_id", client_id.clone()),
                ("client_secret", client_secret.expose().to_string()),
                ("refresh_token", refresh_token.expose().to_string()),
            ],
        };
        let req = self
            .client
            .request(reqwest::Method::POST, &self.token_url)
            .form(&form);
        let resp = self.client.capped(64 * 1024).send(req).await?;
        if resp.status != 200 {
            let why = serde_json::from_slice::<TokenError>(&resp.body)
                .ok()
                .map(|e| match e.error_description {
                    Some(d) => format!("{}: {}", e.error, d.chars().take(200).collect::<String>()),
                    None => e.error,
                })
                .unwrap_or_default();
            return Err(SourceError::Auth(format!(
                "{}: the token endpoint refused the credentials ({} {why}); check {}",
                self.kind, resp.status, self.keys
            )));
        }
        let reply: TokenReply = resp.json()?;
        let lifetime = Duration::from_secs(reply.expires_in.unwrap_or(3600).saturating_sub(60));
        let token = Secret::new(reply.access_token);
        if let Ok(mut guard) = self.cached.lock() {
            *guard = Some((token.clone(), Instant::now() + lifetime));
        }
        Ok(token)
    }

    /// GETs `url` with `query` and an access token; a token the API refuses with 401 is
    /// renewed once. Returns the response whatever its status, for the caller to read or to
    /// turn into the platform's own refusal.
    pub(crate) async fn get(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<Fetched, SourceError> {
        let mut renewed = false;
        loop {
            let access = self.token().await?;
            let req = self
                .client
                .request(reqwest::Method::GET, url)
                .query(query)
                .bearer_auth(access.expose());
            let resp = self.client.send(req).await?;
            if resp.status == 401 && !renewed {
                self.forget();
                renewed = true;
                continue;
            }
            return Ok(resp);
        }
    }

    /// Drops the kept token after an API refused it, so the next call fetches a new one.
    pub(crate) fn forget(&self) {
        if let Ok(mut guard) = self.cached.lock() {
            *guard = None;
        }
    }

    /// Where tokens come from, for `check-config`.
    pub(crate) fn describe(&self) -> String {
        match &self.grant {
            Grant::ServiceAccount { account, .. } => format!(
                "signs in as service account {} at {}",
                account.email(),
                self.token_url
            ),
            Grant::RefreshToken { client_id, .. } => format!(
                "signs in with the owner's refresh token for OAuth client {client_id} at {}",
                self.token_url
            ),
        }
    }
}

/// The `message` of a Google API error body (`{"error": {"code", "message", "status"}}`), to
/// show with a refused request.
pub(crate) fn api_error_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Body {
        error: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        message: String,
        #[serde(default)]
        status: String,
    }
    serde_json::from_slice::<Body>(body)
        .ok()
        .map(|b| {
            let m: String = b.error.message.chars().take(200).collect();
            if b.error.status.is_empty() {
                format!(": {m}")
            } else {
                format!(": {} {m}", b.error.status)
            }
        })
        .unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

    /// The test-only service account key file (`fixtures/google/`).
    pub(crate) fn key_file_text() -> String {
        crate::sources::testing::fixture("google", "test-service-account.json")
    }

    fn auth(token_url: &str) -> GoogleAuth {
        let mut errors = ConfigErrors::default();
        let account =
            ServiceAccount::parse(&Secret::new(key_file_text()), "t", "k", &mut errors).unwrap();
        GoogleAuth::new(
            Grant::ServiceAccount {
                account,
                scope: "https://www.googleapis.com/auth/androidpublisher",
            },
            Some(token_url),
            Client::new("webcare-test").unwrap(),
            "google_play",
            "service_account_env/service_account_file",
        )
    }

    #[tokio::test]
    async fn a_signed_assertion_is_exchanged_once_and_the_token_kept() {
        let server = MockServer::start().await;
        let aud = format!("{}/token", server.uri());
        let scope = "https://www.googleapis.com/auth/androidpublisher";
        crate::sources::fake::mount_google_token(&server, scope, "ya29.c.unit-test", Some(1)).await;
        let a = auth(&aud);
        assert_eq!(a.token().await.unwrap().expose(), "ya29.c.unit-test");
        assert_eq!(a.token().await.unwrap().expose(), "ya29.c.unit-test");
    }

    #[tokio::test]
    async fn a_refused_grant_names_the_credential_keys() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(400).set_body_raw(
                r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
                "application/json",
            ))
            .mount(&server)
            .await;
        let err = auth(&format!("{}/token", server.uri()))
            .token()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SourceError::Auth(m) if m.contains("invalid_grant: Invalid JWT Signature.") && m.contains("check service_account_env/service_account_file")),
            "{err:?}"
        );
    }

    #[test]
    fn a_key_file_that_is_not_one_is_named_without_quoting_it() {
        let mut errors = ConfigErrors::default();
        let secret = Secret::new(r#"{"client_email":"a@b","private_key":"hunter2"}"#.into());
        assert!(
            ServiceAccount::parse(&secret, "sources[1]", "service_account_file", &mut errors)
                .is_none()
        );
        assert_eq!(errors.problems[0].0, "sources[1].service_account_file");
        assert!(!errors.problems[0].1.contains("hunter2"));
        let mut errors = ConfigErrors::default();
        let secret = Secret::new("not json at all".into());
        assert!(ServiceAccount::parse(&secret, "s", "k", &mut errors).is_none());
        assert!(
            errors.problems[0]
                .1
                .contains("not a service account key file")
        );
    }
}
