//! TLS: Redis's `tls-*` directives, the rustls server configuration built
//! from them, the bounded handshake, and the encrypted socket the connection
//! code drives exactly like a plain one.
//!
//! rustls (with the ring provider) does the cryptography; there is no
//! OpenSSL. What rustls cannot do (TLSv1 and TLSv1.1, OpenSSL cipher-list
//! expressions, encrypted private keys) is refused with an error naming the
//! directive, at start-up and on CONFIG SET, never quietly weakened.
//!
//! The handshake runs in the connection's own task, bounded by
//! [`TLS_HANDSHAKE_TIMEOUT`] and by [`MAX_CONCURRENT_TLS_HANDSHAKES`]; the
//! accept loop only accepts. After the handshake the session is driven by
//! [`TlsSocket`] with the same non-blocking, readiness-based calls as a plain
//! socket: a batch of frames handed to one vectored write becomes as few TLS
//! records as its size allows (16 KiB of plaintext each), then one flush.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rustls::crypto::{CryptoProvider, ring};
use rustls::server::{NoServerSessionStorage, StoresServerSessions, WebPkiClientVerifier};
use rustls::{CipherSuite, RootCertStore, ServerConfig, ServerConnection, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use crate::connection::Socket;
use crate::logging::RateLimiter;

/// Longest a TLS handshake may take, waiting for a handshake slot
/// included; a client that stalls longer is closed and counted in INFO
/// `tls_handshake_timeouts`. Redis has no such bound (its handshake is
/// non-blocking but unbounded); no directive sets it.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TLS handshakes in progress at once: each costs CPU (key exchange,
/// signature) and a few KiB of state, so a burst of new TLS clients cannot
/// take every core from established clients. Others wait for a slot within
/// their [`TLS_HANDSHAKE_TIMEOUT`]. Redis's nearest knob,
/// `max-new-tls-connections-per-cycle`, is accepted and ignored.
pub const MAX_CONCURRENT_TLS_HANDSHAKES: usize = 256;
/// Most sessions kept for resumption when `tls-session-cache-size` is 0
/// (OpenSSL's "no limit") or larger than this: the cache's memory stays
/// bounded whatever the configuration says.
pub const MAX_TLS_SESSION_CACHE_ENTRIES: usize = 1 << 20;

/// `tls-auth-clients`: whether a client certificate is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthClients {
    /// No client certificate is asked for.
    No,
    /// A client certificate signed by the configured CA is required.
    Yes,
    /// A certificate is asked for; if one is sent it must verify.
    Optional,
}

impl AuthClients {
    /// Every value, in Redis's order (also the order of its error text).
    const ALL: [AuthClients; 3] = [AuthClients::No, AuthClients::Yes, AuthClients::Optional];

    /// The redis.conf name, also the CONFIG GET value.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthClients::No => "no",
            AuthClients::Yes => "yes",
            AuthClients::Optional => "optional",
        }
    }

    /// Parses `arg` (case-insensitively), or returns Redis's error text.
    pub fn parse(arg: &[u8]) -> Result<AuthClients, String> {
        AuthClients::ALL
            .into_iter()
            .find(|a| arg.eq_ignore_ascii_case(a.as_str().as_bytes()))
            .ok_or_else(|| {
                "argument(s) must be one of the following: no, yes, optional".to_string()
            })
    }
}

/// The `tls-*` directives, as configured (strings as given; they are
/// checked when the TLS configuration is built).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsOptions {
    /// `tls-port`: TLS listener port on the `bind` addresses; 0 = none.
    pub port: u16,
    /// `tls-cert-file`: the server's certificate chain (PEM).
    pub cert_file: String,
    /// `tls-key-file`: the server's private key (PEM, unencrypted).
    pub key_file: String,
    /// `tls-key-file-pass`: refused when set while TLS is on (see module).
    pub key_file_pass: String,
    /// `tls-ca-cert-file`: CA certificates client certificates must chain to.
    pub ca_cert_file: String,
    /// `tls-ca-cert-dir`: a directory of CA certificate files (every PEM
    /// certificate in it is trusted).
    pub ca_cert_dir: String,
    /// `tls-auth-clients`. Default yes.
    pub auth_clients: AuthClients,
    /// `tls-protocols`: e.g. `"TLSv1.2 TLSv1.3"`; empty = both.
    pub protocols: String,
    /// `tls-ciphers`: TLS 1.2 suites, OpenSSL names separated by `:`.
    pub ciphers: String,
    /// `tls-ciphersuites`: TLS 1.3 suites, OpenSSL names separated by `:`.
    pub ciphersuites: String,
    /// `tls-prefer-server-ciphers`. Default no.
    pub prefer_server_ciphers: bool,
    /// `tls-session-caching`. Default yes.
    pub session_caching: bool,
    /// `tls-session-cache-size`: sessions kept. Default 20480.
    pub session_cache_size: u64,
    /// `tls-session-cache-timeout`: seconds a session may be resumed.
    /// Default 300.
    pub session_cache_timeout: u64,
}

impl Default for TlsOptions {
    /// Redis 7's defaults.
    fn default() -> Self {
        TlsOptions {
            port: 0,
            cert_file: String::new(),
            key_file: String::new(),
            key_file_pass: String::new(),
            ca_cert_file: String::new(),
            ca_cert_dir: String::new(),
            auth_clients: AuthClients::Yes,
            protocols: String::new(),
            ciphers: String::new(),
            ciphersuites: String::new(),
            prefer_server_ciphers: false,
            session_caching: true,
            session_cache_size: 20480,
            session_cache_timeout: 300,
        }
    }
}

/// OpenSSL's TLS 1.3 suite names (`tls-ciphersuites`) and rustls's suites.
const TLS13_SUITES: &[(&str, CipherSuite)] = &[
    (
        "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
];

/// OpenSSL's TLS 1.2 suite names (`tls-ciphers`) and rustls's suites: the
/// ECDHE AEAD suites, the only TLS 1.2 suites rustls implements.
const TLS12_SUITES: &[(&str, CipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
];

/// The suites named in `list` (separated by `:`, `,` or spaces), in the
/// order given; `list` empty (or `DEFAULT`) means every suite in `table`.
/// A name rustls has no suite for is an error naming `directive`.
fn pick_suites(
    directive: &str,
    list: &str,
    table: &[(&str, CipherSuite)],
    available: &[SupportedCipherSuite],
) -> Result<Vec<SupportedCipherSuite>, String> {
    let find = |suite: CipherSuite| available.iter().find(|s| s.suite() == suite).copied();
    let words: Vec<&str> = list
        .split([':', ',', ' '])
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() || words == ["DEFAULT"] {
        return Ok(table.iter().filter_map(|(_, s)| find(*s)).collect());
    }
    let mut out = Vec::new();
    for word in words {
        let suite = table
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .and_then(|(_, s)| find(*s))
            .ok_or_else(|| {
                let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
                format!(
                    "{directive}: '{word}' is not a cipher suite pubsubd's TLS library (rustls) implements; list suites by name from: {}",
                    names.join(" ")
                )
            })?;
        if !out.contains(&suite) {
            out.push(suite);
        }
    }
    Ok(out)
}

/// The protocol versions `tls-protocols` enables.
fn pick_versions(
    protocols: &str,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let mut out = Vec::new();
    let words: Vec<&str> = protocols.split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    }
    for word in words {
        let version = if word.eq_ignore_ascii_case("TLSv1.2") {
            &rustls::version::TLS12
        } else if word.eq_ignore_ascii_case("TLSv1.3") {
            &rustls::version::TLS13
        } else if word.eq_ignore_ascii_case("TLSv1") || word.eq_ignore_ascii_case("TLSv1.1") {
            return Err(format!(
                "tls-protocols: {word} is not supported by pubsubd's TLS library (rustls), which implements TLSv1.2 and TLSv1.3 only"
            ));
        } else {
            return Err(
                "tls-protocols: Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'."
                    .to_string(),
            );
        };
        if !out.contains(&version) {
            out.push(version);
        }
    }
    Ok(out)
}

/// Reads every PEM certificate in `path`; an error names `directive`.
fn read_certs(directive: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            format!(
                "{directive}: cannot read certificates from {}: {e}",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(format!(
            "{directive}: no PEM certificate found in {}",
            path.display()
        ));
    }
    Ok(certs)
}

/// The CA store client certificates must chain to.
fn read_roots(o: &TlsOptions) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let mut add = |directive: &str, certs: Vec<CertificateDer<'static>>| {
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("{directive}: unusable CA certificate: {e}"))?;
        }
        Ok::<(), String>(())
    };
    if !o.ca_cert_file.is_empty() {
        add(
            "tls-ca-cert-file",
            read_certs("tls-ca-cert-file", Path::new(&o.ca_cert_file))?,
        )?;
    }
    if !o.ca_cert_dir.is_empty() {
        let entries = std::fs::read_dir(&o.ca_cert_dir)
            .map_err(|e| format!("tls-ca-cert-dir: cannot read {}: {e}", o.ca_cert_dir))?;
        for entry in entries.flatten() {
            // Like OpenSSL's hashed directory, files that hold no
            // certificate are passed over.
            if let Ok(certs) = read_certs("tls-ca-cert-dir", &entry.path()) {
                add("tls-ca-cert-dir", certs)?;
            }
        }
    }
    Ok(roots)
}

/// Builds the rustls server configuration `o` describes, or an error that
/// names the directive at fault.
pub fn build(o: &TlsOptions) -> Result<Arc<ServerConfig>, String> {
    if !o.key_file_pass.is_empty() {
        return Err("tls-key-file-pass: pubsubd cannot decrypt encrypted private keys; decrypt the key (openssl pkey -in key.pem -out plain.pem) and leave tls-key-file-pass empty".to_string());
    }
    if o.cert_file.is_empty() {
        return Err("tls-cert-file: no certificate file configured for the TLS port".into());
    }
    if o.key_file.is_empty() {
        return Err("tls-key-file: no private key file configured for the TLS port".into());
    }
    let versions = pick_versions(&o.protocols)?;
    // ring's provider is deprecated only for lacking post-quantum key
    // exchange (which needs aws-lc-rs, a C and cmake build); its classical
    // suites and groups are what Redis's OpenSSL build offers too.
    #[allow(deprecated)]
    let base = ring::default_provider();
    let mut suites = Vec::new();
    if versions.contains(&&rustls::version::TLS13) {
        suites.extend(pick_suites(
            "tls-ciphersuites",
            &o.ciphersuites,
            TLS13_SUITES,
            &base.cipher_suites,
        )?);
    }
    if versions.contains(&&rustls::version::TLS12) {
        suites.extend(pick_suites(
            "tls-ciphers",
            &o.ciphers,
            TLS12_SUITES,
            &base.cipher_suites,
        )?);
    }
    let provider = Arc::new(CryptoProvider {
        cipher_suites: suites,
        ..base
    });
    let certs = read_certs("tls-cert-file", Path::new(&o.cert_file))?;
    let key = PrivateKeyDer::from_pem_file(&o.key_file).map_err(|e| {
        format!(
            "tls-key-file: no usable unencrypted private key in {}: {e}",
            o.key_file
        )
    })?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| format!("tls-protocols / tls-ciphers / tls-ciphersuites: {e}"))?;
    let builder = if o.auth_clients == AuthClients::No {
        builder.with_no_client_auth()
    } else {
        if o.ca_cert_file.is_empty() && o.ca_cert_dir.is_empty() {
            return Err(format!(
                "tls-auth-clients is '{}': set tls-ca-cert-file or tls-ca-cert-dir to the CA client certificates must chain to (or set tls-auth-clients no)",
                o.auth_clients.as_str()
            ));
        }
        let roots = Arc::new(read_roots(o)?);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
        let verifier = if o.auth_clients == AuthClients::Optional {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        let verifier = verifier
            .build()
            .map_err(|e| format!("tls-ca-cert-file / tls-ca-cert-dir: {e}"))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls-cert-file / tls-key-file: {e}"))?;
    config.ignore_client_order = o.prefer_server_ciphers;
    if o.session_caching {
        config.session_storage = Arc::new(SessionCache::new(
            o.session_cache_size,
            o.session_cache_timeout,
        ));
    } else {
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

/// Resumable sessions, bounded in number (`tls-session-cache-size`) and
/// age (`tls-session-cache-timeout`); the oldest goes first when full.
struct SessionCache {
    max: usize,
    ttl: Duration,
    inner: parking_lot::Mutex<SessionMap>,
}

#[derive(Default)]
struct SessionMap {
    entries: HashMap<Vec<u8>, (Vec<u8>, Instant)>,
    /// Keys in insertion order (some possibly taken already).
    order: VecDeque<Vec<u8>>,
}

impl SessionCache {
    fn new(size: u64, timeout: u64) -> SessionCache {
        let max = match usize::try_from(size) {
            Ok(0) | Err(_) => MAX_TLS_SESSION_CACHE_ENTRIES,
            Ok(n) => n.min(MAX_TLS_SESSION_CACHE_ENTRIES),
        };
        SessionCache {
            max,
            ttl: Duration::from_secs(timeout),
            inner: parking_lot::Mutex::new(SessionMap::default()),
        }
    }
}

impl fmt::Debug for SessionCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionCache")
            .field("max", &self.max)
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let mut m = self.inner.lock();
        while m.entries.len() >= self.max {
            match m.order.pop_front() {
                Some(old) => {
                    m.entries.remove(&old);
                }
                None => break,
            }
        }
        m.entries.insert(key.clone(), (value, Instant::now()));
        m.order.push_back(key);
        if m.order.len() > 2 * self.max {
            let SessionMap { entries, order } = &mut *m;
            order.retain(|k| entries.contains_key(k));
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let m = self.inner.lock();
        let (value, at) = m.entries.get(key)?;
        (at.elapsed() < self.ttl).then(|| value.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        let (value, at) = self.inner.lock().entries.remove(key)?;
        (at.elapsed() < self.ttl).then_some(value)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// The server's TLS state: the configuration new handshakes use (swapped on
/// CONFIG SET), the handshake slots, and the INFO counters.
pub struct TlsRuntime {
    config: parking_lot::RwLock<Option<Arc<ServerConfig>>>,
    slots: tokio::sync::Semaphore,
    /// INFO `tls_handshake_failures`: handshakes that failed (not TLS,
    /// bad or missing client certificate, protocol error, timeout).
    pub handshake_failures: AtomicU64,
    /// INFO `tls_handshake_timeouts`: the failures that were timeouts.
    pub handshake_timeouts: AtomicU64,
}

impl Default for TlsRuntime {
    fn default() -> Self {
        TlsRuntime {
            config: parking_lot::RwLock::new(None),
            slots: tokio::sync::Semaphore::new(MAX_CONCURRENT_TLS_HANDSHAKES),
            handshake_failures: AtomicU64::new(0),
            handshake_timeouts: AtomicU64::new(0),
        }
    }
}

/// Failed handshakes are logged at most this often (server-wide).
static HANDSHAKE_WARNINGS: std::sync::LazyLock<RateLimiter> =
    std::sync::LazyLock::new(RateLimiter::default);

impl TlsRuntime {
    /// Whether a TLS configuration was built (it stays when CONFIG SET
    /// closes the TLS port).
    pub fn enabled(&self) -> bool {
        self.config.read().is_some()
    }

    /// Builds and installs the configuration for `o`; handshakes that start
    /// afterwards use it. On error the previous configuration stays.
    pub fn reload(&self, o: &TlsOptions) -> Result<(), String> {
        self.install(build(o)?);
        Ok(())
    }

    /// Installs `config` (from [`build`]) for the handshakes that start
    /// afterwards.
    pub fn install(&self, config: Arc<ServerConfig>) {
        *self.config.write() = Some(config);
    }

    /// Runs the server side of a handshake on `tcp`, bounded by
    /// [`TLS_HANDSHAKE_TIMEOUT`] and [`MAX_CONCURRENT_TLS_HANDSHAKES`].
    /// Failures are counted and logged (rate-limited); the caller closes.
    pub async fn handshake(&self, tcp: TcpStream, peer: &str) -> Option<TlsSocket> {
        let config = self.config.read().clone()?;
        let attempt = async {
            let _slot = self.slots.acquire().await.map_err(io::Error::other)?;
            tokio_rustls::TlsAcceptor::from(config).accept(tcp).await
        };
        let failure = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, attempt).await {
            Ok(Ok(stream)) => {
                let (tcp, conn) = stream.into_inner();
                return Some(TlsSocket::new(tcp, conn));
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => {
                self.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                format!("no handshake within {TLS_HANDSHAKE_TIMEOUT:?}")
            }
        };
        self.handshake_failures.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = HANDSHAKE_WARNINGS.allow() {
            tracing::warn!(
                "TLS handshake with {peer} failed: {failure} ({suppressed} similar warnings suppressed)"
            );
        }
        None
    }
}

/// Reads TLS records from a non-blocking TCP stream.
struct TcpIn<'a>(&'a TcpStream);

impl Read for TcpIn<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

/// Writes TLS records to a non-blocking TCP stream.
struct TcpOut<'a>(&'a TcpStream);

impl Write for TcpOut<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The session state behind a [`TlsSocket`]'s lock.
struct Session {
    conn: ServerConnection,
    /// Decrypted bytes may be waiting in the session (a read stopped because
    /// the caller's buffer was full): the socket counts as readable.
    plaintext_waiting: bool,
    /// The peer closed the TCP stream.
    eof: bool,
    /// close_notify was queued.
    closing: bool,
}

impl Session {
    /// Writes queued TLS records until none is left or the socket would
    /// block (then `WouldBlock`).
    fn flush(&mut self, tcp: &TcpStream) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut TcpOut(tcp))? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }
}

/// An established TLS connection, used without blocking through
/// [`Socket`]. The lock is only ever taken by the connection's own task;
/// it is there because [`Socket`]'s calls take `&self`.
pub struct TlsSocket {
    tcp: TcpStream,
    session: parking_lot::Mutex<Session>,
}

impl TlsSocket {
    fn new(tcp: TcpStream, conn: ServerConnection) -> TlsSocket {
        TlsSocket {
            tcp,
            session: parking_lot::Mutex::new(Session {
                conn,
                // The client's first request may have arrived with its
                // last handshake message.
                plaintext_waiting: true,
                eof: false,
                closing: false,
            }),
        }
    }

    /// Polls until every queued TLS record is written.
    fn poll_flush_records(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.flush_pending() {
                Ok(true) => return Poll::Ready(Ok(())),
                Ok(false) => std::task::ready!(self.tcp.poll_write_ready(cx))?,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Socket for TlsSocket {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.session.lock().plaintext_waiting {
            return Poll::Ready(Ok(()));
        }
        self.tcp.poll_read_ready(cx)
    }

    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp.poll_write_ready(cx)
    }

    fn try_read_buf(&self, buf: &mut BytesMut) -> io::Result<usize> {
        let mut s = self.session.lock();
        loop {
            let start = buf.len();
            let spare = buf.capacity() - start;
            if spare == 0 {
                s.plaintext_waiting = true;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            buf.resize(buf.capacity(), 0);
            let got = s.conn.reader().read(&mut buf[start..]);
            buf.truncate(start + *got.as_ref().unwrap_or(&0));
            match got {
                Ok(n) => {
                    s.plaintext_waiting = n > 0 && n == spare;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    s.plaintext_waiting = false;
                    if s.eof {
                        return Ok(0);
                    }
                }
                // The peer closed without close_notify: an EOF all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if s.conn.read_tls(&mut TcpIn(&self.tcp))? == 0 {
                s.eof = true;
            }
            if let Err(e) = s.conn.process_new_packets() {
                // Send the alert rustls queued, if the socket takes it.
                let _ = s.flush(&self.tcp);
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Records the session answers by itself (a key update).
            match s.flush(&self.tcp) {
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                _ => {}
            }
        }
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut s = self.session.lock();
        // Earlier records first: the session's buffer is bounded
        // (rustls's default 64 KiB), and this keeps it near empty.
        s.flush(&self.tcp)?;
        let n = s.conn.writer().write_vectored(bufs)?;
        match s.flush(&self.tcp) {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ if n == 0 && bufs.iter().any(|b| !b.is_empty()) => {
                Err(io::ErrorKind::WouldBlock.into())
            }
            _ => Ok(n),
        }
    }

    fn flush_pending(&self) -> io::Result<bool> {
        match self.session.lock().flush(&self.tcp) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn set_send_buffer(&self, bytes: usize) -> io::Result<()> {
        socket2::SockRef::from(&self.tcp).set_send_buffer_size(bytes)
    }
}

impl AsyncWrite for TlsSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.try_write_vectored(&[IoSlice::new(buf)]) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(self.tcp.poll_write_ready(cx))?;
                }
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_records(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        {
            let mut s = self.session.lock();
            if !s.closing {
                s.closing = true;
                s.conn.send_close_notify();
            }
        }
        std::task::ready!(self.poll_flush_records(cx))?;
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
