//! One SMTP session at a time, held explicitly: connect, greet, STARTTLS, log in, then send
//! messages one after the other over that one verified connection, and drop it after the first
//! error or timeout. The dialogue itself is lettre's (`AsyncSmtpConnection`); this module owns
//! the socket, the timeouts and what each failure means for the mail waiting behind it.
//!
//! Why not lettre's pooled transport: a send cancelled by a timeout went back to its pool with
//! the server's late answer still unread, so the next message read the previous one's replies
//! and was recorded sent on a "354" while the server had refused it. Here a connection is never
//! used again after anything went wrong, every step has its own limit (the end of data gets
//! RFC 5321's ten minutes unless `[mail] data_timeout` says otherwise), and only a 2xx answer
//! to the final dot counts as delivered.
//!
//! The socket has TCP_NODELAY set and is corked: what lettre writes is held until it waits for
//! an answer, so a command goes out in one segment and the message's final dot leaves with the
//! end of its text, not as a small write that Nagle's algorithm would hold for a delayed ACK
//! (about 40 ms per mail, which is also how long a kill could repeat a mail).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::{Response, Severity};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::mail::{SendError, TlsMode};
use crate::secret::Secret;

/// Where and how to reach the SMTP server; built once from `[mail]`.
pub struct SmtpClient {
    host: String,
    port: u16,
    tls: TlsMode,
    /// For STARTTLS (lettre upgrades the connection).
    starttls: Option<TlsParameters>,
    /// For implicit TLS (TLS from the first byte, under our corked socket).
    implicit: Option<tokio_rustls::TlsConnector>,
    credentials: Option<Credentials>,
    /// Connect, and every command's answer.
    timeout: Duration,
    /// The answer to the final dot.
    data_timeout: Duration,
    hello: ClientId,
}

/// The step a failure happened in; it decides what the failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Greeting,
    StartTls,
    Login,
    MailFrom,
    Recipient,
    Data,
    EndOfData,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Greeting => "greeting and EHLO",
            Step::StartTls => "STARTTLS",
            Step::Login => "AUTH",
            Step::MailFrom => "MAIL FROM",
            Step::Recipient => "RCPT TO",
            Step::Data => "DATA",
            Step::EndOfData => "end of data",
        }
    }
}

impl SmtpClient {
    /// A client for `host:port`. Fails only when the TLS settings cannot be built.
    pub fn new(
        host: &str,
        port: u16,
        tls: TlsMode,
        ca_pem: Option<&[u8]>,
        credentials: Option<(&str, &Secret)>,
        timeout: Duration,
        data_timeout: Duration,
    ) -> Result<SmtpClient, SendError> {
        let held = |e: String| SendError::Held(format!("mail.ca_file / TLS for {host}: {e}"));
        let (starttls, implicit) = match tls {
            TlsMode::None => (None, None),
            TlsMode::Starttls => {
                let mut b = TlsParameters::builder(host.to_string());
                if let Some(pem) = ca_pem {
                    b = b.add_root_certificate(
                        Certificate::from_pem(pem).map_err(|e| held(e.to_string()))?,
                    );
                }
                (
                    Some(b.build_rustls().map_err(|e| held(e.to_string()))?),
                    None,
                )
            }
            TlsMode::Implicit => (None, Some(implicit_connector(ca_pem).map_err(held)?)),
        };
        Ok(SmtpClient {
            host: host.to_string(),
            port,
            tls,
            starttls,
            implicit,
            credentials: credentials
                .map(|(u, p)| Credentials::new(u.to_string(), p.expose().to_string())),
            timeout,
            data_timeout,
            hello: ClientId::default(),
        })
    }

    /// `host:port`, for messages.
    pub fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    async fn limit<T>(
        &self,
        step: Step,
        limit: Duration,
        fut: impl Future<Output = Result<T, SmtpError>>,
    ) -> Result<T, SendError> {
        match tokio::time::timeout(limit, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(classify(step, &self.server(), &e)),
            Err(_) => Err(SendError::Timeout(format!(
                "mail server {}: no answer to {} within {}",
                self.server(),
                step.name(),
                humantime::format_duration(limit)
            ))),
        }
    }

    /// Opens a verified session: connected, greeted, encrypted as configured, logged in.
    pub async fn connect(&self) -> Result<Session, SendError> {
        let server = self.server();
        let tcp = match tokio::time::timeout(
            self.timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                return Err(SendError::Transient(format!(
                    "mail server {server}: cannot connect: {e}"
                )));
            }
            Err(_) => {
                return Err(SendError::Timeout(format!(
                    "mail server {server}: no connection within {}",
                    humantime::format_duration(self.timeout)
                )));
            }
        };
        // Without this, the small last write of each message waits for the server's delayed ACK.
        tcp.set_nodelay(true).map_err(|e| {
            SendError::Transient(format!("mail server {server}: cannot set TCP_NODELAY: {e}"))
        })?;
        let corked = Corked::new(tcp);
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit {
            Some(connector) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| SendError::Held(format!("mail.host {:?}: {e}", self.host)))?;
                let tls = match tokio::time::timeout(self.timeout, connector.connect(name, corked))
                    .await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => return Err(tls_failure(&server, &e.to_string())),
                    Err(_) => {
                        return Err(SendError::Timeout(format!(
                            "mail server {server}: no TLS handshake within {}",
                            humantime::format_duration(self.timeout)
                        )));
                    }
                };
                Box::new(Implicit(tls))
            }
            None => Box::new(corked),
        };
        let mut conn = self
            .limit(
                Step::Greeting,
                self.timeout,
                AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
            )
            .await?;
        if self.tls == TlsMode::Starttls {
            if !conn.can_starttls() {
                return Err(SendError::Held(format!(
                    "mail server {server} does not offer STARTTLS any more, and mail.tls = \"starttls\" requires it; nothing is sent in clear text"
                )));
            }
            let params = self.starttls.clone().ok_or_else(|| {
                SendError::Held("STARTTLS settings missing; this is a bug".to_string())
            })?;
            self.limit(
                Step::StartTls,
                self.timeout,
                conn.starttls(params, &self.hello),
            )
            .await?;
        }
        if let Some(credentials) = &self.credentials {
            self.limit(
                Step::Login,
                self.timeout,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], credentials),
            )
            .await?;
        }
        let eight_bit = conn.server_info().supports_feature(Extension::EightBitMime);
        Ok(Session {
            conn,
            eight_bit,
            sent: 0,
        })
    }

    /// Sends one message over `session`. After an error the session must be dropped: its
    /// replies may be out of step.
    pub async fn send(
        &self,
        session: &mut Session,
        envelope: &Envelope,
        email: &[u8],
    ) -> Result<String, SendError> {
        let conn = &mut session.conn;
        let mut params = Vec::new();
        if !email.is_ascii() {
            if !session.eight_bit {
                return Err(SendError::Permanent(format!(
                    "mail server {} does not take 8-bit messages (no 8BITMIME)",
                    self.server()
                )));
            }
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        self.limit(
            Step::MailFrom,
            self.timeout,
            conn.command(Mail::new(envelope.from().cloned(), params)),
        )
        .await?;
        for to in envelope.to() {
            self.limit(
                Step::Recipient,
                self.timeout,
                conn.command(Rcpt::new(to.clone(), vec![])),
            )
            .await?;
        }
        let go = self
            .limit(Step::Data, self.timeout, conn.command(Data))
            .await?;
        if go.code().to_string() != "354" {
            return Err(SendError::Transient(format!(
                "mail server {} answered DATA with {}, not 354; not sent",
                self.server(),
                reply_line(&go)
            )));
        }
        let done = self
            .limit(Step::EndOfData, self.data_timeout, conn.message(email))
            .await?;
        // Only a 2xx to the final dot means the server took responsibility for the message.
        if done.code().severity != Severity::PositiveCompletion {
            return Err(SendError::Transient(format!(
                "mail server {} answered the end of data with {}, not 2xx; counted as not sent",
                self.server(),
                reply_line(&done)
            )));
        }
        session.sent += 1;
        Ok(reply_line(&done))
    }
}

/// A connected, verified session.
pub struct Session {
    conn: AsyncSmtpConnection,
    eight_bit: bool,
    sent: usize,
}

impl Session {
    /// Messages accepted over this session.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Says goodbye, briefly: the mail is delivered already, so a slow QUIT is not waited for.
    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.conn.quit()).await;
    }
}

fn reply_line(r: &Response) -> String {
    format!("{} {}", r.code(), r.message().collect::<Vec<_>>().join(" "))
}

fn tls_failure(server: &str, e: &str) -> SendError {
    SendError::Held(format!(
        "mail server {server}: TLS failed: {e}; if the server's certificate is from a private CA, set mail.ca_file"
    ))
}

/// What a failed step means for the mail. 4xx, a refused or dropped connection: try again
/// later. 5xx for a recipient or for this message's content: this message only, for good.
/// Everything about who we are and how we connect (login refused, STARTTLS gone, certificate
/// not trusted, sender refused): hold all mail until the operator fixes it.
fn classify(step: Step, server: &str, e: &SmtpError) -> SendError {
    let what = format!("mail server {server}: {} failed: {e}", step.name());
    if e.is_transient() {
        return SendError::Transient(what);
    }
    let text = e.to_string().to_lowercase();
    let tls_problem = e.is_tls() || text.contains("certificate") || text.contains("tls");
    match step {
        Step::Recipient | Step::Data | Step::EndOfData if e.is_permanent() => {
            SendError::Permanent(what)
        }
        Step::Login if e.is_permanent() || e.is_client() => SendError::Held(format!(
            "{what}; check mail.username and the password (mail.password_env / mail.password_file)"
        )),
        Step::MailFrom if e.is_permanent() => SendError::Held(format!("{what}; check mail.from")),
        Step::StartTls | Step::Greeting if tls_problem || e.is_client() => {
            tls_failure(server, &e.to_string())
        }
        Step::Greeting | Step::StartTls if e.is_permanent() => SendError::Held(what),
        _ if e.is_client() => SendError::Held(what),
        _ => SendError::Transient(what),
    }
}

/// A rustls connector for implicit TLS: the system's roots and `ca_pem`.
fn implicit_connector(ca_pem: Option<&[u8]>) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // A system certificate rustls cannot use is skipped, as every TLS client does.
        let _ = roots.add(cert);
    }
    if let Some(pem) = ca_pem {
        for cert in certificates_in(pem)? {
            roots.add(cert).map_err(|e| e.to_string())?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The certificates in a PEM file; an error when it holds none (a key, or a typo'd path to some
/// other file, would otherwise trust nothing and fail only at the first send).
pub fn certificates_in(
    pem: &[u8],
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate file: {e}"))?;
    if certs.is_empty() {
        return Err("holds no certificate (no BEGIN CERTIFICATE block)".to_string());
    }
    Ok(certs)
}

/// A TCP stream that holds what is written until the other side's answer is awaited (or a
/// buffer's worth has gathered), then writes it at once.
struct Corked {
    tcp: TcpStream,
    out: Vec<u8>,
}

/// More than this is written out even before a read.
const CORK_LIMIT: usize = 64 * 1024;

impl Corked {
    fn new(tcp: TcpStream) -> Corked {
        Corked {
            tcp,
            out: Vec::new(),
        }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.tcp).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.drain(..n);
        }
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
}

impl fmt::Debug for Corked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Corked")
            .field("tcp", &self.tcp)
            .field("held", &self.out.len())
            .finish()
    }
}

impl AsyncRead for Corked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        Pin::new(&mut me.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Corked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if me.out.len() >= CORK_LIMIT {
            ready!(me.poll_drain(cx))?;
        }
        me.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // The cork: a flush alone sends nothing; the next read (or shutdown) does.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        ready!(me.poll_drain(cx))?;
        Pin::new(&mut me.tcp).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Corked {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.peer_addr()
    }
}

/// Implicit TLS over the corked socket.
struct Implicit(tokio_rustls::client::TlsStream<Corked>);

impl fmt::Debug for Implicit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Implicit").field(self.0.get_ref().0).finish()
    }
}

impl AsyncRead for Implicit {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Implicit {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for Implicit {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.tcp.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pem_file_without_a_certificate_is_refused() {
        assert!(
            certificates_in(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
        assert!(certificates_in(b"hello").is_err());
    }

    #[tokio::test]
    async fn corked_writes_leave_together_when_the_answer_is_awaited() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut first = vec![0u8; 64];
            let n = s.read(&mut first).await.unwrap();
            s.write_all(b"250 ok\r\n").await.unwrap();
            first.truncate(n);
            first
        });
        let mut c = Corked::new(TcpStream::connect(addr).await.unwrap());
        c.write_all(b"text\r\n").await.unwrap();
        c.flush().await.unwrap();
        c.write_all(b".\r\n").await.unwrap();
        c.flush().await.unwrap();
        let mut answer = [0u8; 8];
        c.read_exact(&mut answer).await.unwrap();
        // One read on the server saw both writes: they left as one.
        assert_eq!(server.await.unwrap(), b"text\r\n.\r\n");
    }
}
