//! A plain request/reply connection for readiness checks and for watching
//! the server (`PUBSUB NUMSUB`) during a run.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::resp::{Value, encode_command, parse_value};
use crate::subscriber::connect;
use crate::tls::Stream;

/// One request at a time, every call bounded by a deadline.
pub struct Control {
    stream: Stream,
    buf: Vec<u8>,
}

impl Control {
    /// Connects by `deadline`.
    pub async fn connect(addr: SocketAddr, deadline: Instant) -> Result<Control, String> {
        Ok(Control {
            stream: connect(addr, None, deadline).await?,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sends `args` and returns the reply, by `deadline`.
    pub async fn call(&mut self, args: &[&[u8]], deadline: Instant) -> Result<Value, String> {
        let mut out = Vec::new();
        encode_command(&mut out, args);
        let send = async {
            self.stream.write_all(&out).await?;
            // Over TLS, the last records may still be in the session.
            self.stream.flush().await
        };
        tokio::time::timeout_at(deadline.into(), send)
            .await
            .map_err(|_| "control write timed out".to_string())?
            .map_err(|e| format!("control write: {e}"))?;
        loop {
            if let Some((v, n)) = parse_value(&self.buf).map_err(|e| e.to_string())? {
                self.buf.drain(..n);
                return Ok(v);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline.into(), self.stream.read(&mut chunk))
                .await
                .map_err(|_| "control reply timed out".to_string())?
                .map_err(|e| format!("control read: {e}"))?;
            if n == 0 {
                return Err("server closed the control connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next value the server sends, if one arrives by `until`.
    async fn next_by(&mut self, until: Instant) -> Result<Option<Value>, String> {
        loop {
            if let Some((v, n)) = parse_value(&self.buf).map_err(|e| e.to_string())? {
                self.buf.drain(..n);
                return Ok(Some(v));
            }
            let mut chunk = [0u8; 4096];
            let n = match tokio::time::timeout_at(until.into(), self.stream.read(&mut chunk)).await
            {
                Err(_) => return Ok(None),
                Ok(r) => r.map_err(|e| format!("control read: {e}"))?,
            };
            if n == 0 {
                return Err("server closed the control connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// `PUBSUB NUMSUB <channel>`: the channel's subscriber count.
    pub async fn numsub(&mut self, channel: &[u8], deadline: Instant) -> Result<i64, String> {
        match self
            .call(&[b"PUBSUB", b"NUMSUB", channel], deadline)
            .await?
        {
            Value::Array(Some(items)) => match items.get(1) {
                Some(Value::Int(n)) => Ok(*n),
                other => Err(format!("unexpected PUBSUB NUMSUB element: {other:?}")),
            },
            other => Err(format!("unexpected PUBSUB NUMSUB reply: {other:?}")),
        }
    }
}

/// Waits until the server at `addr` answers PING, for at most `timeout`.
pub async fn wait_ready(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no attempt");
    while Instant::now() < deadline {
        let step = (Instant::now() + Duration::from_millis(500)).min(deadline);
        match Control::connect(addr, step).await {
            Ok(mut c) => match c.call(&[b"PING"], step).await {
                Ok(Value::Simple(s)) if s == "PONG" => return Ok(()),
                Ok(other) => last = format!("PING answered {other:?}"),
                Err(e) => last = e,
            },
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "server at {addr} not ready after {timeout:?}: {last}"
    ))
}

/// Waits until a message published on `from` reaches a subscriber on `to`
/// (two nodes of one pubsubd cluster), by `deadline`: a node that has just
/// started is linked to the cluster a moment later.
pub async fn wait_crossing(
    from: SocketAddr,
    to: SocketAddr,
    deadline: Instant,
) -> Result<(), String> {
    let channel = format!("loadgen.crossing.{}", std::process::id()).into_bytes();
    let mut sub = Control::connect(to, deadline).await?;
    sub.call(&[b"SUBSCRIBE", &channel], deadline).await?;
    let mut publisher = Control::connect(from, deadline).await?;
    while Instant::now() < deadline {
        publisher
            .call(&[b"PUBLISH", &channel, b"x"], deadline)
            .await?;
        let until = (Instant::now() + Duration::from_millis(100)).min(deadline);
        if sub.next_by(until).await?.is_some() {
            return Ok(());
        }
    }
    Err(format!(
        "no message published on {from} reached a subscriber on {to}: are they nodes of one cluster?"
    ))
}
