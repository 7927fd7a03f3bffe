//! TLS for every connection the generator opens (`run --tls-ca FILE`):
//! rustls, trusting only that CA, the server named by the address's IP (the
//! certificate compare.sh makes has it as a subject alternative name).
//!
//! [`Stream`] is what the async side reads and writes: plain TCP or TLS
//! over it. Its socket can leave the runtime it was opened on and join
//! another (the one-thread readers) with the TLS session kept, which
//! `tokio_rustls` alone cannot do. [`blocking`] gives the fixed-rate
//! publisher, which writes on one thread and reads replies on another, the
//! same two halves over TLS that a cloned socket gives it in clear.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The client configuration, once `run --tls-ca` set it.
static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();

/// Makes every later connection TLS, trusting the CA certificates in `ca`.
pub fn enable(ca: &Path) -> Result<(), String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?;
    if certs.is_empty() {
        return Err(format!("--tls-ca {}: no PEM certificate", ca.display()));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| format!("--tls-ca {}: {e}", ca.display()))?;
    }
    // ring, as the server uses (see src/tls.rs).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    CONFIG
        .set(Arc::new(config))
        .map_err(|_| "TLS is already configured".to_string())
}

/// The configuration, when TLS is on.
fn config() -> Option<&'static Arc<ClientConfig>> {
    CONFIG.get()
}

/// The name the server's certificate must carry: the address's IP.
fn server_name(addr: SocketAddr) -> ServerName<'static> {
    ServerName::IpAddress(addr.ip().into())
}

/// A TCP socket that can leave its runtime ([`Tcp::detach`]) and join
/// another ([`Tcp::attach`]), even under a TLS session.
pub enum Tcp {
    /// Registered with the current runtime: usable.
    Attached(TcpStream),
    /// Between runtimes.
    Detached(std::net::TcpStream),
    /// Only while changing state.
    Moving,
}

impl Tcp {
    fn attached(&self) -> io::Result<&TcpStream> {
        match self {
            Tcp::Attached(t) => Ok(t),
            _ => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "socket not attached to this runtime",
            )),
        }
    }

    fn attached_mut(&mut self) -> io::Result<&mut TcpStream> {
        match self {
            Tcp::Attached(t) => Ok(t),
            _ => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "socket not attached to this runtime",
            )),
        }
    }

    /// Leaves the runtime it is registered with.
    fn detach(&mut self) -> io::Result<()> {
        if let Tcp::Attached(t) = std::mem::replace(self, Tcp::Moving) {
            *self = Tcp::Detached(t.into_std()?);
        }
        Ok(())
    }

    /// Joins the runtime of the calling thread.
    fn attach(&mut self) -> io::Result<()> {
        if let Tcp::Detached(t) = std::mem::replace(self, Tcp::Moving) {
            *self = Tcp::Attached(TcpStream::from_std(t)?);
        }
        Ok(())
    }
}

impl AsyncRead for Tcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().attached_mut() {
            Ok(t) => Pin::new(t).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for Tcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().attached_mut() {
            Ok(t) => Pin::new(t).poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().attached_mut() {
            Ok(t) => Pin::new(t).poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().attached_mut() {
            Ok(t) => Pin::new(t).poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

/// One of the generator's connections: plain TCP, or TLS over TCP.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<Tcp>>),
}

impl Stream {
    /// Wraps a connected socket: as it is, or after a TLS handshake (by
    /// `deadline`) when TLS is on.
    pub async fn start(
        tcp: TcpStream,
        addr: SocketAddr,
        deadline: Instant,
    ) -> Result<Stream, String> {
        let Some(config) = config() else {
            return Ok(Stream::Plain(tcp));
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
        let tls = tokio::time::timeout_at(
            deadline.into(),
            connector.connect(server_name(addr), Tcp::Attached(tcp)),
        )
        .await
        .map_err(|_| format!("TLS handshake with {addr} timed out"))?
        .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
        Ok(Stream::Tls(Box::new(tls)))
    }

    /// Reads what has already arrived without waiting and without the
    /// runtime's readiness (which may not have seen it yet): `WouldBlock`
    /// when nothing has.
    pub fn read_now(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => (&*socket2::SockRef::from(&*t)).read(buf),
            Stream::Tls(s) => {
                let (tcp, conn) = s.get_mut();
                let sock = socket2::SockRef::from(tcp.attached()?);
                loop {
                    match conn.reader().read(buf) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        other => return other,
                    }
                    let mut raw: &socket2::Socket = &sock;
                    if conn.read_tls(&mut raw)? == 0 {
                        return Ok(0);
                    }
                    conn.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
            }
        }
    }

    /// Leaves the current runtime (see [`Tcp`]).
    pub fn detach(self) -> io::Result<Detached> {
        Ok(match self {
            Stream::Plain(t) => Detached(DetachedKind::Plain(t.into_std()?)),
            Stream::Tls(mut s) => {
                s.get_mut().0.detach()?;
                Detached(DetachedKind::Tls(s))
            }
        })
    }
}

/// A [`Stream`] between runtimes.
pub struct Detached(DetachedKind);

enum DetachedKind {
    Plain(std::net::TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<Tcp>>),
}

impl Detached {
    /// Joins the runtime of the calling thread.
    pub fn attach(self) -> io::Result<Stream> {
        Ok(match self.0 {
            DetachedKind::Plain(t) => Stream::Plain(TcpStream::from_std(t)?),
            DetachedKind::Tls(mut s) => {
                s.get_mut().0.attach()?;
                Stream::Tls(s)
            }
        })
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(t) => Pin::new(t).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(t) => Pin::new(t).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(t) => Pin::new(t).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(t) => Pin::new(t).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Blocking halves of one connection: a writer for one thread, a reader
/// for another. In clear, the socket and its clone; over TLS, both share
/// the session behind a lock held only to encrypt or decrypt, never while
/// waiting on the socket. Only the writer writes to the socket, so records
/// leave in the order the session made them. Reads wait at most `poll`
/// (then `WouldBlock` or `TimedOut`); a TLS handshake's reads at most
/// `handshake`.
pub fn blocking(
    tcp: std::net::TcpStream,
    addr: SocketAddr,
    handshake: Duration,
    poll: Duration,
) -> io::Result<(Box<dyn Write + Send>, Box<dyn Read + Send>)> {
    let Some(config) = config() else {
        tcp.set_read_timeout(Some(poll))?;
        let reader = tcp.try_clone()?;
        return Ok((Box::new(tcp), Box::new(reader)));
    };
    let mut conn =
        ClientConnection::new(Arc::clone(config), server_name(addr)).map_err(io::Error::other)?;
    let mut sock = tcp;
    sock.set_read_timeout(Some(handshake))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    // The timeout belongs to the socket, its clone included.
    sock.set_read_timeout(Some(poll))?;
    let conn = Arc::new(Mutex::new(conn));
    let reader = TlsReader {
        conn: Arc::clone(&conn),
        sock: sock.try_clone()?,
        raw: vec![0; RAW_READ],
        start: 0,
        end: 0,
    };
    let writer = TlsWriter {
        conn,
        sock,
        records: Vec::new(),
    };
    Ok((Box::new(writer), Box::new(reader)))
}

/// Bytes of TLS records the blocking reader takes from the socket at once.
const RAW_READ: usize = 64 * 1024;

fn lock(conn: &Mutex<ClientConnection>) -> std::sync::MutexGuard<'_, ClientConnection> {
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

struct TlsWriter {
    conn: Arc<Mutex<ClientConnection>>,
    sock: std::net::TcpStream,
    /// Records made under the lock, written after it.
    records: Vec<u8>,
}

impl Write for TlsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.records.clear();
        // As much as the session's bounded buffer takes; write_all loops.
        let n = {
            let mut conn = lock(&self.conn);
            let n = conn.writer().write(buf)?;
            while conn.wants_write() {
                conn.write_tls(&mut self.records)?;
            }
            n
        };
        self.sock.write_all(&self.records)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

struct TlsReader {
    conn: Arc<Mutex<ClientConnection>>,
    sock: std::net::TcpStream,
    /// Records read from the socket; `start..end` not yet given to the
    /// session (it takes them as its plaintext buffer allows).
    raw: Vec<u8>,
    start: usize,
    end: usize,
}

impl Read for TlsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut conn = lock(&self.conn);
                match conn.reader().read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return other,
                }
                if self.start < self.end {
                    let mut pending = &self.raw[self.start..self.end];
                    self.start += conn.read_tls(&mut pending)?;
                    conn.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    continue;
                }
            }
            // The socket's read timeout bounds this wait (the caller's poll).
            let n = self.sock.read(&mut self.raw)?;
            if n == 0 {
                return Ok(0);
            }
            (self.start, self.end) = (0, n);
        }
    }
}
