//! Cluster mode: several pubsubd nodes acting as one pub/sub space, linked
//! through NATS (`cluster-nats`, `cluster-name`).
//!
//! Each node keeps one NATS connection (the `async-nats` client: it tries
//! the servers in the order given, reconnects to the next one of the list,
//! or one the NATS cluster announced, and resubscribes by itself). Every PUBLISH and SPUBLISH is
//! delivered locally first, then queued for NATS ([`Link::offer`]) without
//! waiting: one task sends the queue in order, so NATS's per-connection order
//! keeps each publisher's order on every node. Every node subscribes to all
//! messages of its cluster (patterns can match any channel), with NATS's
//! `no_echo`, so a node never gets its own messages back. Received messages
//! go to the local registry as if published here (see [`wire`] for subjects
//! and frames).
//!
//! Counts: each node reports its channel, shard channel and pattern
//! subscriber counts ([`view`]) [`REPORT_SETTLE`] after a change (at most
//! every [`REPORT_MIN_GAP`]: a change within it goes out when it ends) and
//! at least every [`HEARTBEAT`]; a peer silent for [`PEER_TTL`] is dropped
//! with its counts, and a node that shuts down says so at once. PUBLISH returns the local
//! receivers plus the receivers the others last reported.
//!
//! Keys: one node owns the keyspace, the others forward key commands to
//! it and keep a copy (see [`keys`]).
//!
//! Without `cluster-nats` nothing here runs.

pub mod keys;
pub mod view;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_nats::{ConnectOptions, Event, ServerAddr, Subject};
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::RwLock;
use tokio::sync::mpsc;

use crate::pubsub::Kind;
use crate::shared::Shared;
use view::RemoteView;
use wire::{Frame, Table};

/// Messages queued for NATS at most. The queue sits between local
/// publishers and the NATS connection so that a slow or down NATS never
/// stalls a PUBLISH: when it is full the message still reaches local
/// subscribers, is not sent to the other nodes, and is counted in INFO
/// (`cluster_dropped_out`). 65,536 rides out about a second of a busy node
/// while NATS reconnects. No Redis directive.
pub const OUTBOUND_QUEUE_MESSAGES: usize = 65_536;

/// Bytes queued for NATS at most (frames as sent); past it messages are
/// dropped to NATS and counted as with [`OUTBOUND_QUEUE_MESSAGES`]. No
/// Redis directive.
pub const OUTBOUND_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// Bytes of messages the sending task hands to NATS before it waits for
/// the server to confirm it has read the bytes handed one window earlier
/// (a request on [`wire::ack_subject`]), so at most two windows are on
/// their way at any time. Without it a slow link fills the kernel's socket
/// buffers with megabytes, and the counts reports, sent behind them, reach
/// the others after [`PEER_TTL`]: they would drop a live node and elect
/// another owner of the keys. With it a report waits behind at most two
/// windows (1.3 s at 200 KB/s). It caps one node's sending at two windows
/// per round trip to its NATS server (5 MB/s over a 50 ms round trip).
/// No Redis directive.
pub const OUTBOUND_WINDOW_BYTES: usize = 128 * 1024;

/// How long the sending task waits for the server's confirmation of a
/// window before it sends on regardless (the link may be lost; the
/// client then holds what is sent until it reconnects).
pub const WINDOW_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames the NATS client itself holds, behind the outbound queue, before
/// its connection takes them (the client's default is 2,048); the
/// connection then writes from a buffer of about 64 KB. Kept small, since
/// counts reports go straight to the client and wait behind these frames.
/// INFO shows how many wait there (`cluster_client_queued_out`). No Redis
/// directive.
pub const NATS_CLIENT_CAPACITY: usize = 128;

/// Messages the NATS client buffers for each of pubsubd's subscriptions.
/// The receiving task hands each message to local outboxes without waiting,
/// so this fills only if that task is starved; nats-server cuts a slow
/// consumer only when the socket is not read, which the client always does.
/// A message beyond this is dropped by the client and counted
/// (`cluster_inbound_dropped`). No Redis directive.
pub const INBOUND_CAPACITY: usize = 65_536;

/// NATS's default `max_payload`, used for the size check until the server
/// has told its own.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// How often the reporting task looks for silent peers and a due
/// heartbeat (a subscription change wakes it at once).
pub const REPORT_POLL: Duration = Duration::from_millis(50);

/// Least time between two reports of one node, so a burst of SUBSCRIBEs
/// costs one report, not one each.
pub const REPORT_MIN_GAP: Duration = Duration::from_millis(100);

/// How long a node waits after a subscription change before it reports,
/// so the SUBSCRIBEs a client sends together (a socket.io adapter's
/// PSUBSCRIBE and SUBSCRIBEs) go out in one report. Short, because the
/// socket.io adapter counts its servers with NUMSUB: a server the others do
/// not count yet misses their requests' answers.
pub const REPORT_SETTLE: Duration = Duration::from_millis(2);

/// A node reports at least this often, changed or not: its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// A peer not heard from for this long is taken as gone and its
/// subscribers leave the counts (three missed heartbeats).
pub const PEER_TTL: Duration = Duration::from_secs(3);

/// Largest report chunk, below NATS's `max_payload`, so a node with many
/// channels sends several moderate messages instead of one huge one.
pub const REPORT_CHUNK_BYTES: usize = 256 * 1024;

/// How long shutdown waits to tell the others this node is leaving.
pub const BYE_TIMEOUT: Duration = Duration::from_millis(500);

/// Longest wait between two attempts to reach a NATS server.
pub const RECONNECT_DELAY_MAX: Duration = Duration::from_secs(1);

/// Remote deliveries whose latency INFO's `cluster_remote_latency_us_*`
/// summarise: the most recent ones, so the figures follow the current load
/// and cost a fixed 4 KB.
pub const LATENCY_WINDOW: usize = 1024;

/// Default `cluster-name`.
pub const DEFAULT_NAME: &str = "pubsubd";

/// Parses `cluster-nats`: comma-separated NATS server URLs (`nats://host:port`;
/// `tls://`, `ws://`, `wss://` as the NATS client accepts). Empty means
/// cluster mode is off.
pub fn parse_urls(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if !part.contains("://") {
            return Err(format!(
                "invalid NATS URL '{part}': expected nats://host:port"
            ));
        }
        let addr = part
            .parse::<ServerAddr>()
            .map_err(|e| format!("invalid NATS URL '{part}': {e}"))?;
        // The NATS client does not send credentials found in a URL; taking
        // such a URL would connect unauthenticated and be refused.
        if addr.username().is_some() || addr.password().is_some() {
            return Err(format!(
                "NATS URL '{part}' holds credentials: use cluster-nats-user and cluster-nats-password (or cluster-nats-token) instead"
            ));
        }
        out.push(part.to_string());
    }
    Ok(out)
}

/// Checks `cluster-name`: it becomes one token of NATS subjects, so it must
/// be 1-64 letters, digits, `-` or `_`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid cluster-name '{name}': use 1-64 letters, digits, '-' or '_'"
        ))
    }
}

/// How a node proves itself to NATS and secures the link: the
/// `cluster-nats-*` directives, as configured (empty = unset). They are
/// checked by [`NatsAuth::check`] before start-up goes on, since the NATS
/// client reads them only when it connects, in the background.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatsAuth {
    /// `cluster-nats-user` and `cluster-nats-password`: NATS user
    /// authentication; both or neither.
    pub user: String,
    pub password: String,
    /// `cluster-nats-token`: NATS token authentication.
    pub token: String,
    /// `cluster-nats-tls-ca-cert-file`: PEM CA certificates the NATS
    /// servers' certificates must chain to (instead of the system's).
    pub tls_ca_cert_file: String,
    /// `cluster-nats-tls-cert-file` and `cluster-nats-tls-key-file`: a PEM
    /// client certificate and its key, for NATS servers that verify
    /// clients; both or neither.
    pub tls_cert_file: String,
    pub tls_key_file: String,
}

impl NatsAuth {
    /// Whether any TLS directive is set: then the link must be TLS, so a
    /// server that offers plain text is refused rather than used.
    pub fn wants_tls(&self) -> bool {
        !(self.tls_ca_cert_file.is_empty()
            && self.tls_cert_file.is_empty()
            && self.tls_key_file.is_empty())
    }

    /// Refuses settings that cannot work, naming the directive: half of a
    /// pair, two ways to authenticate, a file that holds no usable PEM.
    pub fn check(&self) -> Result<(), String> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        if self.user.is_empty() != self.password.is_empty() {
            return Err(
                "cluster-nats-user and cluster-nats-password go together: set both or neither"
                    .into(),
            );
        }
        if !self.token.is_empty() && !self.user.is_empty() {
            return Err(
                "cluster-nats-token and cluster-nats-user: NATS takes one way to authenticate, set only one"
                    .into(),
            );
        }
        if self.tls_cert_file.is_empty() != self.tls_key_file.is_empty() {
            return Err(
                "cluster-nats-tls-cert-file and cluster-nats-tls-key-file go together: set both or neither"
                    .into(),
            );
        }
        let certs = |directive: &str, path: &str| -> Result<(), String> {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("{directive}: cannot read certificates from {path}: {e}"))?;
            if certs.is_empty() {
                return Err(format!("{directive}: no PEM certificate found in {path}"));
            }
            Ok(())
        };
        if !self.tls_ca_cert_file.is_empty() {
            certs("cluster-nats-tls-ca-cert-file", &self.tls_ca_cert_file)?;
        }
        if !self.tls_cert_file.is_empty() {
            certs("cluster-nats-tls-cert-file", &self.tls_cert_file)?;
            PrivateKeyDer::from_pem_file(&self.tls_key_file).map_err(|e| {
                format!(
                    "cluster-nats-tls-key-file: cannot read a private key from {}: {e}",
                    self.tls_key_file
                )
            })?;
        }
        Ok(())
    }

    /// `opts` with these credentials and TLS settings.
    fn apply(&self, mut opts: ConnectOptions) -> ConnectOptions {
        if !self.user.is_empty() {
            opts = opts.user_and_password(self.user.clone(), self.password.clone());
        }
        if !self.token.is_empty() {
            opts = opts.token(self.token.clone());
        }
        if !self.tls_ca_cert_file.is_empty() {
            opts = opts.add_root_certificates(self.tls_ca_cert_file.clone().into());
        }
        if !self.tls_cert_file.is_empty() {
            opts = opts.add_client_certificate(
                self.tls_cert_file.clone().into(),
                self.tls_key_file.clone().into(),
            );
        }
        if self.wants_tls() {
            opts = opts.require_tls(true);
        }
        opts
    }
}

/// Counters behind INFO's `# Cluster` section.
#[derive(Default)]
pub struct Counters {
    /// Messages and bytes (frames) sent to NATS.
    pub msgs_out: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Messages and bytes (frames) received from other nodes.
    pub msgs_in: AtomicU64,
    pub bytes_in: AtomicU64,
    /// Messages delivered locally but not sent to NATS: the outbound queue
    /// was full, or the client refused them.
    pub dropped_out: AtomicU64,
    /// PUBLISHes refused for being larger than NATS's `max_payload`.
    pub refused_too_large: AtomicU64,
    /// Times the NATS client reported a slow consumer (messages it
    /// dropped because [`INBOUND_CAPACITY`] was full).
    pub inbound_dropped: AtomicU64,
    /// Malformed frames received and ignored.
    pub malformed_in: AtomicU64,
    /// Other messages received: forwarded key commands, answers to this
    /// node's requests, and the server's window confirmations.
    pub other_in: AtomicU64,
    /// Report chunks sent and received.
    pub reports_out: AtomicU64,
    pub reports_in: AtomicU64,
    /// Connections made to a NATS server (the first and every reconnect).
    pub connects: AtomicU64,
    /// Connections lost.
    pub disconnects: AtomicU64,
    /// Woken on every connection made: a window confirmation asked on the
    /// connection before can no longer come (see [`Link::server_ack`]).
    pub connected: tokio::sync::Notify,
    /// Most messages ever waiting in the client's subscription buffers.
    pub inbound_buffered_peak: AtomicU64,
    /// Most messages, and bytes, ever waiting in the outbound queue.
    pub queued_out_peak: AtomicU64,
    pub queued_out_bytes_peak: AtomicU64,
    /// Frames handed to the NATS client (published or requested); those
    /// its connection has not taken yet are this less its `out_messages`.
    pub client_handed: AtomicU64,
}

/// The latencies of the last [`LATENCY_WINDOW`] messages received from
/// other nodes: from the PUBLISH on the sending node (its wall clock) to
/// their hand-over to this node's subscribers (this node's clock), in
/// microseconds.
#[derive(Default)]
pub struct LatencyWindow {
    samples: Vec<u32>,
    next: usize,
}

impl LatencyWindow {
    /// Records one delivery, overwriting the oldest once the window is
    /// full. A send time ahead of this clock (skew between the nodes'
    /// clocks) counts as 0.
    pub fn record(&mut self, sent_us: u64, delivered_us: u64) {
        let us = u32::try_from(delivered_us.saturating_sub(sent_us)).unwrap_or(u32::MAX);
        if self.samples.len() < LATENCY_WINDOW {
            self.samples.push(us);
        } else {
            self.samples[self.next] = us;
        }
        self.next = (self.next + 1) % LATENCY_WINDOW;
    }

    /// Samples held, and the 50th and 99th percentiles and the maximum of
    /// them (nearest rank); zeros when there is none.
    pub fn summary(&self) -> (usize, u32, u32, u32) {
        let mut v = self.samples.clone();
        if v.is_empty() {
            return (0, 0, 0, 0);
        }
        v.sort_unstable();
        let rank = |p: usize| v[(v.len() * p).div_ceil(100).max(1) - 1];
        (v.len(), rank(50), rank(99), v[v.len() - 1])
    }
}

/// A node's link to NATS.
pub struct Link {
    /// This node's id in reports (the process's run id).
    pub node_id: String,
    /// `cluster-name`.
    pub name: String,
    /// `cluster-nats`, as configured.
    pub urls: Vec<String>,
    client: async_nats::Client,
    /// Frames for NATS, in order: None for the message subject, else a
    /// forwarded command's reply subject.
    tx: mpsc::Sender<(Option<Subject>, Bytes)>,
    queued_bytes: AtomicUsize,
    view: RwLock<RemoteView>,
    latency: parking_lot::Mutex<LatencyWindow>,
    /// Counters for INFO.
    pub counters: Arc<Counters>,
    /// Set when a (re)connect happened, so the next report goes out at once.
    report_now: Arc<AtomicBool>,
    msg_subject: Subject,
    counts_subject: Subject,
    ack_subject: Subject,
    /// Who owns the keyspace, and this node's part in it.
    pub keys: keys::Keys,
}

impl Link {
    /// Connects to NATS (in the background: start-up never waits for it,
    /// and local service runs whether or not NATS is reachable) and starts
    /// the sending, receiving and reporting tasks, which end with the
    /// server's shutdown.
    pub async fn start(
        shared: &Arc<Shared>,
        urls: Vec<String>,
        name: String,
        auth: &NatsAuth,
    ) -> Result<Arc<Link>, String> {
        let addrs: Vec<ServerAddr> = urls
            .iter()
            .map(|u| {
                u.parse::<ServerAddr>()
                    .map_err(|e| format!("invalid NATS URL '{u}': {e}"))
            })
            .collect::<Result<_, _>>()?;
        let counters = Arc::new(Counters::default());
        let report_now = Arc::new(AtomicBool::new(true));
        let (ev_counters, ev_report) = (Arc::clone(&counters), Arc::clone(&report_now));
        let node_id = shared.run_id.clone();
        let client = auth
            .apply(ConnectOptions::new())
            .name(format!("pubsubd {name} {node_id}"))
            .no_echo()
            .retry_on_initial_connect()
            // The operator lists the nearest NATS server first.
            .retain_servers_order()
            .max_reconnects(None)
            .subscription_capacity(INBOUND_CAPACITY)
            .client_capacity(NATS_CLIENT_CAPACITY)
            .reconnect_delay_callback(|attempts| {
                (Duration::from_millis(50) * attempts.min(20) as u32).min(RECONNECT_DELAY_MAX)
            })
            .event_callback(move |event| {
                let (c, r) = (Arc::clone(&ev_counters), Arc::clone(&ev_report));
                async move {
                    match event {
                        Event::Connected => {
                            c.connects.fetch_add(1, Ordering::Relaxed);
                            c.connected.notify_waiters();
                            r.store(true, Ordering::Relaxed);
                            tracing::info!("cluster: connected to NATS");
                        }
                        Event::Disconnected => {
                            c.disconnects.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!("cluster: lost the NATS connection; reconnecting");
                        }
                        Event::SlowConsumer(_) => {
                            c.inbound_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        other => tracing::info!("cluster: NATS {other}"),
                    }
                }
            })
            .connect(addrs)
            .await
            .map_err(|e| format!("cannot start the NATS client: {e}"))?;
        let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE_MESSAGES);
        let link = Arc::new(Link {
            node_id,
            msg_subject: Subject::from(wire::message_subject(&name)),
            counts_subject: Subject::from(wire::counts_subject(&name)),
            ack_subject: Subject::from(wire::ack_subject(&name, &shared.run_id)),
            name,
            urls,
            client,
            tx,
            queued_bytes: AtomicUsize::new(0),
            view: RwLock::new(RemoteView::new()),
            latency: parking_lot::Mutex::new(LatencyWindow::default()),
            counters,
            report_now,
            keys: keys::Keys::new(),
        });
        let msgs = link
            .client
            .subscribe(link.msg_subject.clone())
            .await
            .map_err(|e| format!("cannot subscribe on NATS: {e}"))?;
        let counts = link
            .client
            .subscribe(link.counts_subject.clone())
            .await
            .map_err(|e| format!("cannot subscribe on NATS: {e}"))?;
        link.start_keys(shared).await?;
        tokio::spawn(send_loop(Arc::clone(&link), rx, shared.shutdown.clone()));
        tokio::spawn(receive_messages(
            Arc::clone(&link),
            Arc::clone(shared),
            msgs,
        ));
        tokio::spawn(receive_counts(
            Arc::clone(&link),
            counts,
            shared.shutdown.clone(),
        ));
        tokio::spawn(report_loop(Arc::clone(&link), Arc::clone(shared)));
        tracing::info!(
            "cluster: node {} of cluster '{}' via NATS {}",
            link.node_id,
            link.name,
            link.urls.join(",")
        );
        Ok(link)
    }

    /// NATS's payload limit in force.
    pub fn max_payload(&self) -> usize {
        match self.client.max_payload() {
            0 => DEFAULT_MAX_PAYLOAD,
            n => n,
        }
    }

    /// Refuses a message that NATS could not carry whole; the error is the
    /// PUBLISH reply.
    pub fn check_size(&self, channel: &[u8], payload: &[u8]) -> Result<(), String> {
        let size = wire::MESSAGE_OVERHEAD + channel.len() + payload.len();
        let max = self.max_payload();
        if size <= max {
            return Ok(());
        }
        self.counters
            .refused_too_large
            .fetch_add(1, Ordering::Relaxed);
        Err(format!(
            "ERR message too large for cluster mode: channel and message take {size} bytes, NATS max_payload is {max}"
        ))
    }

    /// Queues a message for the other nodes without waiting; when the
    /// queue is full it is dropped to NATS and counted.
    pub fn offer(&self, kind: Kind, channel: &[u8], payload: &[u8]) {
        self.queue_frame(wire::encode_message(kind, channel, payload, wire::now_us()));
    }

    /// Queues a frame for the message subject without waiting; false (and
    /// counted) when the queue is full.
    fn queue_frame(&self, frame: Bytes) -> bool {
        self.queue_to(None, frame)
    }

    /// Queues a frame for `subject` (None: the message subject) behind
    /// everything queued before it; false (and counted) when the queue is
    /// full.
    fn queue_to(&self, subject: Option<Subject>, frame: Bytes) -> bool {
        let len = frame.len();
        if self.queued_bytes.load(Ordering::Relaxed) + len > OUTBOUND_QUEUE_BYTES {
            self.counters.dropped_out.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let bytes = self.queued_bytes.fetch_add(len, Ordering::Relaxed) + len;
        if self.tx.try_send((subject, frame)).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            self.counters.dropped_out.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let c = &self.counters;
        c.queued_out_peak
            .fetch_max(self.queued() as u64, Ordering::Relaxed);
        c.queued_out_bytes_peak
            .fetch_max(bytes as u64, Ordering::Relaxed);
        true
    }

    /// Hands a frame to the NATS client (waiting while its
    /// [`NATS_CLIENT_CAPACITY`] is taken); false if the client refused it.
    async fn publish(&self, subject: Subject, frame: Bytes) -> bool {
        let handed = &self.counters.client_handed;
        handed.fetch_add(1, Ordering::Relaxed);
        let ok = self.client.publish(subject, frame).await.is_ok();
        if !ok {
            handed.fetch_sub(1, Ordering::Relaxed);
        }
        ok
    }

    /// Returns once the NATS server has read everything this node handed
    /// the client before the call (its "no responders" answer to a request
    /// nobody subscribes to comes behind them), once the client has made a
    /// new connection (the answer cannot come over the lost one: the window
    /// was delivered or lost with it), or after [`WINDOW_ACK_TIMEOUT`].
    async fn server_ack(&self) {
        // Created first, so a connection made while the request is on its
        // way is seen.
        let reconnected = self.counters.connected.notified();
        let handed = &self.counters.client_handed;
        handed.fetch_add(1, Ordering::Relaxed);
        let req = async_nats::Request::new()
            .payload(Bytes::new())
            .timeout(Some(WINDOW_ACK_TIMEOUT));
        use async_nats::client::RequestErrorKind as Kind;
        let r = tokio::select! {
            r = self.client.send_request(self.ack_subject.clone(), req) => r,
            () = reconnected => return,
        };
        match r.map_err(|e| e.kind()) {
            Ok(_) | Err(Kind::NoResponders) => {
                self.counters.other_in.fetch_add(1, Ordering::Relaxed);
            }
            Err(Kind::MaxPayloadExceeded | Kind::InvalidSubject) => {
                handed.fetch_sub(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }

    /// Frames handed to the NATS client that its connection has not taken
    /// yet (while the link is down, all of them).
    fn client_queued(&self) -> u64 {
        let taken = self
            .client
            .statistics()
            .out_messages
            .load(Ordering::Relaxed);
        self.counters
            .client_handed
            .load(Ordering::Relaxed)
            .saturating_sub(taken)
    }

    /// Receivers of a publish to `channel` on the other nodes, as they last
    /// reported.
    pub fn remote_receivers(&self, kind: Kind, channel: &[u8]) -> usize {
        self.view.read().receivers(Table::of(kind), channel) as usize
    }

    /// Subscribers of `channel` on the other nodes (patterns not counted).
    pub fn remote_numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.view.read().count(Table::of(kind), channel) as usize
    }

    /// Channels (or, with [`Table::Pattern`], patterns) subscribed on other
    /// nodes.
    pub fn remote_names(&self, table: Table) -> Vec<Bytes> {
        self.view.read().names(table).cloned().collect()
    }

    /// Other nodes heard from within [`PEER_TTL`].
    pub fn peers(&self) -> usize {
        self.view.read().peers()
    }

    /// Messages waiting in the outbound queue.
    pub fn queued(&self) -> usize {
        OUTBOUND_QUEUE_MESSAGES - self.tx.capacity()
    }

    /// The link state for INFO: connected, disconnected or connecting.
    pub fn state(&self) -> &'static str {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => "connected",
            async_nats::connection::State::Disconnected => "disconnected",
            async_nats::connection::State::Pending => "connecting",
        }
    }

    /// The NATS server connected to now: `host:port` as it announced
    /// itself, and its `server_name` (its id unless configured), which
    /// tells servers apart even when they listen on `0.0.0.0`; empty when
    /// not connected.
    pub fn server(&self) -> (String, String) {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => {
                let info = self.client.server_info();
                (format!("{}:{}", info.host, info.port), info.server_name)
            }
            _ => (String::new(), String::new()),
        }
    }

    /// Messages the NATS client has read but pubsubd has not yet handled.
    fn inbound_buffered(&self) -> u64 {
        let read = self.client.statistics().in_messages.load(Ordering::Relaxed);
        let handled = self.counters.msgs_in.load(Ordering::Relaxed)
            + self.counters.reports_in.load(Ordering::Relaxed)
            + self.counters.malformed_in.load(Ordering::Relaxed)
            + self.counters.other_in.load(Ordering::Relaxed);
        read.saturating_sub(handled)
    }

    /// Tells the other nodes this one is leaving, so its subscribers leave
    /// their counts at once; waits at most [`BYE_TIMEOUT`].
    pub async fn say_goodbye(&self) {
        let bye = wire::encode_bye(&self.node_id);
        let send = async {
            self.publish(self.counts_subject.clone(), bye).await;
            let _ = self.client.flush().await;
        };
        let _ = tokio::time::timeout(BYE_TIMEOUT, send).await;
    }

    /// The lines of INFO's `# Cluster` section after `cluster_enabled`.
    pub fn info(&self, out: &mut String) {
        use std::fmt::Write as _;
        let c = &self.counters;
        let k = &self.keys.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (samples, p50, p99, max) = self.latency.lock().summary();
        let server = self.server();
        let _ = write!(
            out,
            "cluster_mode:nats\r\n\
             cluster_name:{}\r\n\
             cluster_node_id:{}\r\n\
             cluster_link:{}\r\n\
             cluster_nats_urls:{}\r\n\
             cluster_nats_server:{}\r\n\
             cluster_nats_server_name:{}\r\n\
             cluster_nats_max_payload:{}\r\n\
             cluster_peers:{}\r\n\
             cluster_msgs_out:{}\r\n\
             cluster_bytes_out:{}\r\n\
             cluster_msgs_in:{}\r\n\
             cluster_bytes_in:{}\r\n\
             cluster_queued_out:{}\r\n\
             cluster_queued_out_peak:{}\r\n\
             cluster_queued_out_bytes:{}\r\n\
             cluster_queued_out_bytes_peak:{}\r\n\
             cluster_client_queued_out:{}\r\n\
             cluster_dropped_out:{}\r\n\
             cluster_refused_too_large:{}\r\n\
             cluster_inbound_buffered:{}\r\n\
             cluster_inbound_buffered_peak:{}\r\n\
             cluster_inbound_dropped:{}\r\n\
             cluster_malformed_in:{}\r\n\
             cluster_reports_out:{}\r\n\
             cluster_reports_in:{}\r\n\
             cluster_reports_discarded:{}\r\n\
             cluster_connects:{}\r\n\
             cluster_disconnects:{}\r\n\
             cluster_remote_latency_samples:{}\r\n\
             cluster_remote_latency_us_p50:{}\r\n\
             cluster_remote_latency_us_p99:{}\r\n\
             cluster_remote_latency_us_max:{}\r\n\
             cluster_keys_owner:{}\r\n\
             cluster_keys_rank:{}\r\n\
             cluster_keys_epoch:{}\r\n\
             cluster_keys_synced_from:{}\r\n\
             cluster_keys_forwarded_out:{}\r\n\
             cluster_keys_forward_failed:{}\r\n\
             cluster_keys_forwarded_in:{}\r\n\
             cluster_key_updates_out:{}\r\n\
             cluster_key_updates_in:{}\r\n\
             cluster_key_updates_dropped:{}\r\n\
             cluster_key_snapshots_out:{}\r\n\
             cluster_key_snapshots_in:{}\r\n",
            self.name,
            self.node_id,
            self.state(),
            self.urls.join(","),
            server.0,
            server.1,
            self.max_payload(),
            self.peers(),
            get(&c.msgs_out),
            get(&c.bytes_out),
            get(&c.msgs_in),
            get(&c.bytes_in),
            self.queued(),
            get(&c.queued_out_peak),
            self.queued_bytes.load(Ordering::Relaxed),
            get(&c.queued_out_bytes_peak),
            self.client_queued(),
            get(&c.dropped_out),
            get(&c.refused_too_large),
            self.inbound_buffered(),
            get(&c.inbound_buffered_peak),
            get(&c.inbound_dropped),
            get(&c.malformed_in),
            get(&c.reports_out),
            get(&c.reports_in),
            self.view.read().discarded,
            get(&c.connects),
            get(&c.disconnects),
            samples,
            p50,
            p99,
            max,
            self.owner().unwrap_or_default(),
            match self.keys.rank() {
                keys::UNSYNCED => "unsynced".to_string(),
                r => r.to_string(),
            },
            self.keys.epoch(),
            self.keys.synced_from(),
            get(&k.forwarded_out),
            get(&k.forward_failed),
            get(&k.forwarded_in),
            get(&k.updates_out),
            get(&k.updates_in),
            get(&k.updates_dropped),
            get(&k.snapshots_out),
            get(&k.snapshots_in),
        );
    }
}

/// Sends the outbound queue to NATS, in order, until shutdown.
async fn send_loop(
    link: Arc<Link>,
    mut rx: mpsc::Receiver<(Option<Subject>, Bytes)>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    // Bytes handed since the last window closed, and the confirmation of
    // the window before it.
    let mut unacked = 0usize;
    let mut ack: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let frame = tokio::select! {
            f = rx.recv() => f,
            _ = shutdown.cancelled() => None,
        };
        let Some((subject, frame)) = frame else {
            return;
        };
        let len = frame.len();
        let subject = subject.unwrap_or_else(|| link.msg_subject.clone());
        let sent = link.publish(subject, frame).await;
        link.queued_bytes.fetch_sub(len, Ordering::Relaxed);
        let c = &link.counters;
        if sent {
            c.msgs_out.fetch_add(1, Ordering::Relaxed);
            c.bytes_out.fetch_add(len as u64, Ordering::Relaxed);
            unacked += len;
        } else {
            c.dropped_out.fetch_add(1, Ordering::Relaxed);
        }
        if unacked >= OUTBOUND_WINDOW_BYTES {
            unacked = 0;
            if let Some(previous) = ack.take() {
                tokio::select! {
                    _ = previous => {}
                    _ = shutdown.cancelled() => return,
                }
            }
            let l = Arc::clone(&link);
            ack = Some(tokio::spawn(async move { l.server_ack().await }));
        }
    }
}

/// Delivers other nodes' messages to local subscribers, in the order NATS
/// hands them over, until the client closes or the server shuts down.
async fn receive_messages(link: Arc<Link>, shared: Arc<Shared>, mut sub: async_nats::Subscriber) {
    loop {
        let msg = tokio::select! {
            m = sub.next() => m,
            _ = shared.shutdown.cancelled() => None,
        };
        let Some(msg) = msg else {
            return;
        };
        let buffered = link.inbound_buffered();
        link.counters
            .inbound_buffered_peak
            .fetch_max(buffered, Ordering::Relaxed);
        let len = msg.payload.len() as u64;
        let frame = msg.payload.clone();
        match wire::decode(msg.payload) {
            Some(Frame::Message(m)) => {
                link.counters.msgs_in.fetch_add(1, Ordering::Relaxed);
                link.counters.bytes_in.fetch_add(len, Ordering::Relaxed);
                shared
                    .registry
                    .publish(&shared, m.kind, &m.channel, &m.payload);
                link.latency.lock().record(m.sent_us, wire::now_us());
            }
            Some(Frame::Key(_) | Frame::Db(..) | Frame::Snapshot(_)) => {
                link.counters.msgs_in.fetch_add(1, Ordering::Relaxed);
                link.counters.bytes_in.fetch_add(len, Ordering::Relaxed);
                if !link.keys.offer_change(frame) {
                    link.lost_change();
                }
            }
            _ => {
                link.counters.malformed_in.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Takes other nodes' reports and goodbyes until shutdown.
async fn receive_counts(
    link: Arc<Link>,
    mut sub: async_nats::Subscriber,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let msg = tokio::select! {
            m = sub.next() => m,
            _ = shutdown.cancelled() => None,
        };
        let Some(msg) = msg else {
            return;
        };
        match wire::decode(msg.payload) {
            Some(Frame::Report(r)) if r.node != link.node_id => {
                link.counters.reports_in.fetch_add(1, Ordering::Relaxed);
                link.view.write().receive(r, Instant::now());
                link.choose_owner();
            }
            Some(Frame::Bye(node)) => {
                link.counters.reports_in.fetch_add(1, Ordering::Relaxed);
                link.view.write().remove(&node);
                link.choose_owner();
            }
            _ => {
                link.counters.malformed_in.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// This node's counts as report entries.
fn snapshot(shared: &Shared) -> Vec<(Table, Bytes, u32)> {
    let reg = &shared.registry;
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let mut out: Vec<(Table, Bytes, u32)> = Vec::new();
    for kind in [Kind::Channel, Kind::Shard] {
        out.extend(
            reg.counts(kind)
                .into_iter()
                .map(|(name, n)| (Table::of(kind), name, clamp(n))),
        );
    }
    out.extend(
        reg.pattern_counts()
            .into_iter()
            .map(|(name, n)| (Table::Pattern, name, clamp(n))),
    );
    out
}

/// Reports this node's counts after a change and on every heartbeat, and
/// forgets silent peers, until shutdown.
async fn report_loop(link: Arc<Link>, shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(REPORT_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq: u64 = 0;
    let mut reported: Option<u64> = None;
    let mut last_sent: Option<Instant> = None;
    loop {
        // A change not yet reported because of the gap goes out when the
        // gap ends, not a poll later.
        let pending = reported != Some(shared.registry.changes());
        let gap_end = last_sent.map_or_else(Instant::now, |t| t + REPORT_MIN_GAP);
        tokio::select! {
            _ = tick.tick() => {}
            _ = shared.registry.changed_wait() => {
                tokio::time::sleep(REPORT_SETTLE).await;
            }
            _ = tokio::time::sleep_until(gap_end.into()), if pending && gap_end > Instant::now() => {}
            _ = shared.shutdown.cancelled() => return,
        }
        let now = Instant::now();
        if let Some(cutoff) = now.checked_sub(PEER_TTL) {
            link.view.write().expire(cutoff);
        }
        let connected = link.client.connection_state() == async_nats::connection::State::Connected;
        link.keys_tick(&shared, connected);
        if !connected {
            continue;
        }
        let changes = shared.registry.changes();
        let since = last_sent.map(|t| now.duration_since(t));
        let due = link.report_now.swap(false, Ordering::Relaxed)
            || since.is_none_or(|s| s >= HEARTBEAT)
            || (reported != Some(changes) && since.is_none_or(|s| s >= REPORT_MIN_GAP));
        if !due {
            continue;
        }
        seq += 1;
        let entries = snapshot(&shared);
        let max = link.max_payload().min(REPORT_CHUNK_BYTES);
        let k = link.keys.standing();
        let standing = (k.rank, k.epoch, k.claim);
        for chunk in wire::encode_report(&link.node_id, seq, standing, &entries, max) {
            if link.publish(link.counts_subject.clone(), chunk).await {
                link.counters.reports_out.fetch_add(1, Ordering::Relaxed);
            }
        }
        reported = Some(changes);
        last_sent = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert_eq!(parse_urls(""), Ok(vec![]));
        assert_eq!(
            parse_urls("nats://127.0.0.1:4222, nats://h2:4223"),
            Ok(vec![
                "nats://127.0.0.1:4222".into(),
                "nats://h2:4223".into()
            ])
        );
        assert!(parse_urls("http://x:1").is_err());
        assert!(parse_urls("nats://x:notaport").is_err());
        assert!(parse_urls("127.0.0.1:4222").is_err());
        let creds = parse_urls("nats://u:p@h:4222").unwrap_err();
        assert!(creds.contains("cluster-nats-user"), "{creds}");
        assert!(parse_urls("nats://tok@h:4222").is_err());
    }

    #[test]
    fn the_latency_window_keeps_the_latest_samples_and_ranks_them() {
        let mut w = LatencyWindow::default();
        assert_eq!(w.summary(), (0, 0, 0, 0));
        // A sender clock ahead of ours counts as 0, never wraps.
        w.record(1_000, 500);
        assert_eq!(w.summary(), (1, 0, 0, 0));
        for us in 1..=100u64 {
            w.record(1_000, 1_000 + us);
        }
        assert_eq!(w.summary(), (101, 50, 99, 100));
        // Old samples leave: after a window of 7 µs only 7 µs is seen.
        for _ in 0..LATENCY_WINDOW {
            w.record(10, 17);
        }
        assert_eq!(w.summary(), (LATENCY_WINDOW, 7, 7, 7));
        w.record(0, u64::MAX);
        assert_eq!(w.summary().3, u32::MAX);
    }

    #[test]
    fn names_are_single_subject_tokens() {
        assert!(check_name("chat-1_a").is_ok());
        for bad in ["", "a.b", "a b", "*", ">", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
