//! The listeners, the accept loops, the periodic sweep, and shutdown.
//!
//! Start-up binds every `bind` address (and the Unix socket, if any) before
//! anything else, so a bad address fails fast. Each accepted connection is
//! checked against `maxclients` and protected mode, then served by its own
//! task. A sweep runs every [`SWEEP_INTERVAL`]: it samples the ops/sec
//! counters, cuts clients over their soft output limit for too long (even if
//! no new message arrives to trip the check on enqueue), and closes idle
//! clients past `timeout`.
//!
//! Shutdown (SIGTERM, SIGINT, or SHUTDOWN): stop accepting, tell every
//! connection to stop reading, let each writer flush what is already queued
//! for at most [`SHUTDOWN_FLUSH_TIMEOUT`], remove the pid file and Unix
//! socket, and exit 0. A second signal exits at once.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream, UnixListener, UnixStream};

use crate::client::{Client, CloseReason, Endpoint, Peer};
use crate::config::Config;
use crate::connection::{Socket, serve};
use crate::shared::Shared;
use crate::stats::Stats;

/// How often the sweep runs (Redis checks client limits at `hz` 10).
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);
/// How long shutdown waits for connections to flush their queued output.
pub const SHUTDOWN_FLUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest pause after a failed accept (e.g. out of file descriptors), so
/// the loop backs off instead of spinning.
pub const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Redis's reply to a client refused by protected mode.
pub const DENIED: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Redis's reply to a client over `maxclients`.
pub const MAX_CLIENTS: &str = "-ERR max number of clients reached\r\n";

/// Files to remove on exit.
struct Cleanup {
    pidfile: Option<PathBuf>,
    unixsocket: Option<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(p) = &self.pidfile {
            let _ = std::fs::remove_file(p);
        }
        if let Some(p) = &self.unixsocket {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Binds one TCP address with `SO_REUSEADDR` and the configured backlog.
fn bind_tcp(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Parses a `bind` entry (`127.0.0.1`, `::1`, `*`, `-::*`; a leading `-`
/// means "skip if unavailable", as in Redis).
fn bind_addrs(entry: &str, port: u16) -> (Vec<SocketAddr>, bool) {
    let optional = entry.starts_with('-');
    let host = entry.trim_start_matches('-');
    let ips: Vec<std::net::IpAddr> = match host {
        "*" => vec![std::net::Ipv4Addr::UNSPECIFIED.into()],
        "::*" => vec![std::net::Ipv6Addr::UNSPECIFIED.into()],
        h => h.parse().map(|ip| vec![ip]).unwrap_or_default(),
    };
    (
        ips.into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect(),
        optional,
    )
}

/// Listens on `port` at every `bind` address (a `-` entry that cannot be
/// bound is skipped, as in Redis). `which` names the port in errors.
pub fn listen_on(
    bind: &[String],
    port: u16,
    backlog: u32,
    which: &str,
) -> Result<Vec<TcpListener>, String> {
    let mut out = Vec::new();
    for entry in bind {
        let (addrs, optional) = bind_addrs(entry, port);
        if addrs.is_empty() {
            return Err(format!("invalid bind address '{entry}'"));
        }
        for addr in addrs {
            match bind_tcp(addr, backlog) {
                Ok(l) => out.push(l),
                Err(e) if optional => {
                    tracing::warn!("skipping optional bind address {addr}: {e}");
                }
                Err(e) => return Err(format!("could not listen on {addr}{which}: {e}")),
            }
        }
    }
    Ok(out)
}

/// Which listening port: `port` (plain TCP) or `tls-port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortKind {
    Tcp,
    Tls,
}

/// The accept loops of the TCP and TLS ports, so CONFIG SET `port` and
/// `tls-port` can replace or close them while the server runs.
#[derive(Default)]
pub struct Listeners {
    tcp: parking_lot::Mutex<Vec<tokio::task::AbortHandle>>,
    tls: parking_lot::Mutex<Vec<tokio::task::AbortHandle>>,
}

impl Listeners {
    fn slot(&self, kind: PortKind) -> &parking_lot::Mutex<Vec<tokio::task::AbortHandle>> {
        match kind {
            PortKind::Tcp => &self.tcp,
            PortKind::Tls => &self.tls,
        }
    }

    /// Starts accepting on `listeners` for `kind`, and stops the accept
    /// loops it had (their sockets close as the loops end). Runs on the
    /// server's runtime.
    pub fn replace(&self, shared: &Arc<Shared>, kind: PortKind, listeners: Vec<TcpListener>) {
        let started: Vec<tokio::task::AbortHandle> = listeners
            .into_iter()
            .map(|l| {
                let shared = Arc::clone(shared);
                match kind {
                    PortKind::Tcp => tokio::spawn(accept_tcp(shared, l)).abort_handle(),
                    PortKind::Tls => tokio::spawn(accept_tls(shared, l)).abort_handle(),
                }
            })
            .collect();
        let old = std::mem::replace(&mut *self.slot(kind).lock(), started);
        for task in old {
            task.abort();
        }
    }

    /// Stops every accept loop (shutdown).
    pub fn close_all(&self) {
        for kind in [PortKind::Tcp, PortKind::Tls] {
            for task in std::mem::take(&mut *self.slot(kind).lock()) {
                task.abort();
            }
        }
    }
}

/// Runs the server until shutdown. Returns an error for start-up failures
/// (bind, pidfile, unix socket).
pub async fn run(config: Config, shared: Arc<Shared>) -> Result<(), String> {
    // Tools that start Redis and watch its log (Redis's own test harness,
    // container wait strategies) look for Redis's `PID: N` and `Ready to
    // accept connections`, and for `Failed listening on port` when the
    // port is taken.
    tracing::info!(
        "pubsubd {} starting, PID: {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    shared.acl.load_at_startup(&config)?;
    // Checked with or without cluster-nats, before anything listens: a
    // wrong setting is found at once, not when cluster mode is switched on.
    config.cluster_nats_auth.check()?;
    let tcp = if config.port != 0 {
        // Redis's words, which tools watching the log look for.
        listen_on(&config.bind, config.port, config.tcp_backlog, "")
            .map_err(|e| format!("Failed listening on port {} (tcp): {e}", config.port))?
    } else {
        Vec::new()
    };
    let tls = if config.tls.port != 0 {
        shared.tls.reload(&config.tls)?;
        listen_on(
            &config.bind,
            config.tls.port,
            config.tcp_backlog,
            " (tls-port)",
        )?
    } else {
        Vec::new()
    };
    let mut cleanup = Cleanup {
        pidfile: None,
        unixsocket: None,
    };
    let unix = match &config.unixsocket {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            let l = UnixListener::bind(path)
                .map_err(|e| format!("could not listen on unix socket {}: {e}", path.display()))?;
            cleanup.unixsocket = Some(path.clone());
            if let Some(perm) = config.unixsocketperm {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(perm))
                    .map_err(|e| format!("could not set permissions of {}: {e}", path.display()))?;
            }
            Some(l)
        }
        None => None,
    };
    if tcp.is_empty() && tls.is_empty() && unix.is_none() {
        return Err("no listener configured: set a port or a unixsocket".into());
    }
    if let Some(p) = &config.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .map_err(|e| format!("could not write pidfile {}: {e}", p.display()))?;
        cleanup.pidfile = Some(p.clone());
    }
    let mut listening: Vec<String> = Vec::new();
    for l in &tcp {
        if let Ok(a) = l.local_addr() {
            shared
                .tcp_port
                .store(u64::from(a.port()), Ordering::Relaxed);
            listening.push(a.to_string());
        }
    }
    for l in &tls {
        if let Ok(a) = l.local_addr() {
            listening.push(format!("tls:{a}"));
        }
    }
    if let Some(p) = &config.unixsocket {
        listening.push(format!("unix:{}", p.display()));
    }
    let limits = config.client_output_buffer_limit.pubsub;
    tracing::info!(
        "pubsubd ready: version={} redis_version={} pid={} listening on {} maxclients={} pubsub output limit hard={}B soft={}B/{}s proto-max-bulk-len={} client-query-buffer-limit={} auth={} protected-mode={}",
        env!("CARGO_PKG_VERSION"),
        crate::REDIS_VERSION,
        std::process::id(),
        listening.join(", "),
        config.maxclients,
        limits.hard,
        limits.soft,
        limits.soft_seconds,
        config.proto_max_bulk_len,
        config.client_query_buffer_limit,
        if config.requirepass.is_some() {
            "required"
        } else {
            "none"
        },
        if config.protected_mode { "yes" } else { "no" },
    );
    for w in &config.warnings {
        tracing::warn!("{w}");
    }

    if !config.cluster_nats.is_empty() {
        let link = crate::cluster::Link::start(
            &shared,
            config.cluster_nats.clone(),
            config.cluster_name.clone(),
            &config.cluster_nats_auth,
        )
        .await?;
        let _ = shared.cluster.set(link);
    }

    shared.listeners.replace(&shared, PortKind::Tcp, tcp);
    shared.listeners.replace(&shared, PortKind::Tls, tls);
    let mut accept_tasks = Vec::new();
    if let Some(l) = unix {
        let path = config.unixsocket.clone().unwrap_or_default();
        accept_tasks.push(tokio::spawn(accept_unix(Arc::clone(&shared), l, path)));
    }
    let sweeper = tokio::spawn(sweep(Arc::clone(&shared)));
    let signals = tokio::spawn(watch_signals(Arc::clone(&shared)));
    tracing::info!("Ready to accept connections");

    shared.shutdown.cancelled().await;
    // Connection tasks check the shutdown flag whenever they wake: wake
    // every one (a client connecting now sees the flag on its first turn).
    for c in shared.clients.iter() {
        c.outbox.wake();
    }
    shared.scripts.kill_for_shutdown();
    if let Some(link) = shared.cluster.get() {
        link.say_goodbye().await;
    }
    tracing::warn!("shutting down: no new connections; flushing queued output");
    shared.listeners.close_all();
    for t in &accept_tasks {
        t.abort();
    }
    shared.tasks.close();
    if tokio::time::timeout(SHUTDOWN_FLUSH_TIMEOUT, shared.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "{} connection tasks still flushing after {:?}; exiting anyway",
            shared.tasks.len(),
            SHUTDOWN_FLUSH_TIMEOUT
        );
    }
    sweeper.abort();
    signals.abort();
    drop(cleanup);
    tracing::warn!("pubsubd is now ready to exit, bye bye...");
    Ok(())
}

/// Waits for SIGTERM/SIGINT: the first starts graceful shutdown, a second
/// exits at once.
async fn watch_signals(shared: Arc<Shared>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("could not install signal handlers");
        return;
    };
    let mut seen = 0;
    loop {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        seen += 1;
        if seen == 1 {
            tracing::warn!("received {name}, scheduling shutdown");
            shared.shutdown.cancel();
        } else {
            tracing::warn!("received {name} again during shutdown: exiting now");
            std::process::exit(1);
        }
    }
}

/// The next TCP connection, or None after a failed accept (logged with
/// `which`, then backed off; a success resets `delay`).
async fn accept_next(
    listener: &TcpListener,
    delay: &mut Duration,
    which: &str,
) -> Option<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match listener.accept().await {
        Ok(x) => {
            *delay = Duration::from_millis(5);
            Some(x)
        }
        Err(e) => {
            tracing::warn!("accept failed{which}: {e}");
            backoff(delay).await;
            None
        }
    }
}

/// Sleeps after a failed accept, doubling up to [`MAX_ACCEPT_BACKOFF`].
async fn backoff(delay: &mut Duration) {
    tokio::time::sleep(*delay).await;
    *delay = (*delay * 2).min(MAX_ACCEPT_BACKOFF);
}

/// Why a new connection is refused, if it is: the server is full, or
/// protected mode applies. Counts the connection in INFO either way.
fn refusal(shared: &Shared, local: bool) -> Option<&'static str> {
    Stats::incr(&shared.stats.connections_received);
    let max = shared.settings.maxclients.load(Ordering::Relaxed);
    if shared.connected_clients() as u64 >= max {
        Stats::incr(&shared.stats.rejected_connections);
        return Some(MAX_CLIENTS);
    }
    if shared.settings.protected_mode.load(Ordering::Relaxed)
        && !shared.acl.auth_required()
        && !local
    {
        return Some(DENIED);
    }
    None
}

/// Sends a refused connection its error and closes it, in a task of its
/// own (so an admitted connection's task carries nothing of admission).
fn refuse<S: tokio::io::AsyncWrite + Unpin + Send + 'static>(
    shared: &Shared,
    mut stream: S,
    text: &'static str,
) {
    shared.tasks.spawn(async move {
        let _ = stream.write_all(text.as_bytes()).await;
        let _ = stream.shutdown().await;
    });
}

/// Registers an admitted client and starts its connection task. The client
/// is in the client table before the accept loop takes the next connection,
/// so `maxclients` holds even for a burst of connections.
fn start<S: Socket>(shared: &Arc<Shared>, client: Client, stream: S) {
    let client = Arc::new(client);
    shared.clients.insert(client.id, Arc::clone(&client));
    shared
        .tasks
        .spawn(serve(Arc::clone(shared), client, stream));
}

/// Accepts TCP connections until shutdown.
async fn accept_tcp(shared: Arc<Shared>, listener: TcpListener) {
    let mut delay = Duration::from_millis(5);
    loop {
        let Some((stream, remote)) = accept_next(&listener, &mut delay, "").await else {
            continue;
        };
        // Ids follow accept order, as in Redis.
        let id = shared.next_client_id();
        let local_addr = stream.local_addr().unwrap_or(remote);
        let peer = Peer::tcp(remote, local_addr, stream.as_raw_fd());
        if let Some(text) = refusal(&shared, peer.local) {
            refuse(&shared, stream, text);
            continue;
        }
        configure_tcp(&shared, &stream);
        start(&shared, Client::new(id, peer), stream);
    }
}

/// Accepts connections on the TLS port until shutdown. The handshake runs
/// in the connection's own task (bounded in time and in how many run at
/// once, see [`crate::tls`]); a client refused by `maxclients` or protected
/// mode gets its error over TLS, as in Redis.
async fn accept_tls(shared: Arc<Shared>, listener: TcpListener) {
    let mut delay = Duration::from_millis(5);
    loop {
        let Some((stream, remote)) = accept_next(&listener, &mut delay, " on the TLS port").await
        else {
            continue;
        };
        let id = shared.next_client_id();
        let local_addr = stream.local_addr().unwrap_or(remote);
        let peer = Peer::tcp(remote, local_addr, stream.as_raw_fd());
        configure_tcp(&shared, &stream);
        let refused = refusal(&shared, peer.local);
        let task_shared = Arc::clone(&shared);
        let Some(text) = refused else {
            // Registered now, so `maxclients` counts clients mid-handshake.
            let client = Arc::new(Client::new(id, peer));
            shared.clients.insert(client.id, Arc::clone(&client));
            shared.tasks.spawn(async move {
                match task_shared.tls.handshake(stream, &remote.to_string()).await {
                    Some(sock) => serve(task_shared, client, sock).await,
                    None => {
                        task_shared.clients.remove(&client.id);
                        client.outbox.close();
                    }
                }
            });
            continue;
        };
        shared.tasks.spawn(async move {
            if let Some(mut sock) = task_shared.tls.handshake(stream, &remote.to_string()).await {
                let _ = sock.write_all(text.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
    }
}

/// Sets TCP_NODELAY and keepalive (`tcp-keepalive`) on a new connection.
fn configure_tcp(shared: &Shared, stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let secs = shared.settings.tcp_keepalive.load(Ordering::Relaxed);
    if secs > 0 {
        let ka = socket2::TcpKeepalive::new()
            .with_time(Duration::from_secs(secs))
            .with_interval(Duration::from_secs((secs / 3).max(1)))
            .with_retries(3);
        let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&ka);
    }
}

/// Accepts Unix socket connections until shutdown.
async fn accept_unix(shared: Arc<Shared>, listener: UnixListener, path: PathBuf) {
    let mut delay = Duration::from_millis(5);
    let shown: Arc<str> = Arc::from(path.display().to_string());
    loop {
        let stream: UnixStream = match listener.accept().await {
            Ok((s, _)) => {
                delay = Duration::from_millis(5);
                s
            }
            Err(e) => {
                tracing::warn!("accept failed on unix socket: {e}");
                backoff(&mut delay).await;
                continue;
            }
        };
        let id = shared.next_client_id();
        if let Some(text) = refusal(&shared, true) {
            refuse(&shared, stream, text);
            continue;
        }
        let peer = Peer {
            addr: Endpoint::Unix(Arc::clone(&shown)),
            laddr: Endpoint::Unix(Arc::clone(&shown)),
            local: true,
            unix: true,
            fd: stream.as_raw_fd(),
        };
        start(&shared, Client::new(id, peer), stream);
    }
}

/// Active expiry: removes keys whose TTL has passed even if nobody reads
/// them, publishing their `expired` events. Skipped for a tick while a
/// command, transaction or script holds the keyspace (a script's keys must
/// not expire under it): the sweep never waits for the keyspace.
fn expire_keys(shared: &Shared) {
    let Some(mut ks) = shared.try_hold_keyspace() else {
        return;
    };
    ks.notify_flags = shared.settings.notify_flags.load(Ordering::Relaxed);
    if ks.expire_due(crate::keyspace::now_ms()) > 0 {
        crate::notify::publish_events(shared, &mut ks);
    }
}

/// The periodic sweep: rate sampling, active expiry, soft output limits,
/// idle timeout.
async fn sweep(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(SWEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Instant::now();
        crate::client::tick_coarse_clock();
        shared.stats.sample(now);
        expire_keys(&shared);
        let timeout = shared.settings.timeout.load(Ordering::Relaxed);
        let clients: Vec<Arc<Client>> = shared
            .clients
            .iter()
            .map(|e| Arc::clone(e.value()))
            .collect();
        for c in clients {
            if c.outbox.check_limits(c.limit(&shared), now) {
                c.kill_slow_consumer(&shared);
                continue;
            }
            if timeout > 0 && !c.is_pubsub() && c.idle_ms() > timeout.saturating_mul(1000) {
                tracing::debug!("closing idle client id={} addr={}", c.id, c.peer.addr);
                c.close(CloseReason::IdleTimeout);
            }
        }
    }
}
