//! CONFIG GET | SET | RESETSTAT | HELP

use bytes::Bytes;

use super::{help_reply, syntax_error};
use crate::config::Config;
use crate::protocol::{Args, Reply};
use crate::server::{PortKind, listen_on};
use crate::session::Session;

/// `name, value` pairs for every parameter matching one of the globs (a map
/// in RESP3).
pub fn get(s: &mut Session, args: &Args) -> Reply {
    let patterns: Vec<&[u8]> = args[2..].iter().map(|a| &a[..]).collect();
    let pairs = match s.shared.config.read() {
        Ok(c) => c.get(&patterns),
        Err(p) => p.into_inner().get(&patterns),
    };
    Reply::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Reply::Bulk(Bytes::from(k)), Reply::Bulk(Bytes::from(v))))
            .collect(),
    )
}

/// Sets one or more parameters, all or nothing, and applies them at once.
pub fn set(s: &mut Session, args: &Args) -> Reply {
    if !args.len().is_multiple_of(2) {
        return syntax_error();
    }
    let pairs: Vec<(&[u8], &[u8])> = args[2..]
        .chunks(2)
        .map(|p| (&p[0][..], &p[1][..]))
        .collect();
    let shared = std::sync::Arc::clone(&s.shared);
    let result = shared.update_config(|c| {
        let before = c.clone();
        c.set(&pairs)?;
        apply(&shared, &before, c, &pairs).inspect_err(|_| *c = before)
    });
    match result {
        Ok(()) => Reply::ok(),
        Err(e) => Reply::error(e),
    }
}

/// Redis's reason when a new `port` or `tls-port` cannot be listened on.
const CANNOT_LISTEN: &str = "Unable to listen on this port. Check server logs.";
/// Redis's reason when the TLS configuration cannot be (re)built.
const CANNOT_TLS: &str = "Unable to update TLS configuration. Check server logs.";

/// CONFIG SET's error text for a failure related to `name`.
fn set_failed(name: &[u8], reason: &str) -> String {
    format!(
        "ERR CONFIG SET failed (possibly related to argument '{}') - {reason}",
        String::from_utf8_lossy(name)
    )
}

/// Puts into effect what CONFIG SET changed from `before` to `after` that
/// is more than a setting: the TLS configuration and the listening ports.
/// All or nothing: everything that can fail (reading certificates, binding
/// ports) is done before anything changes; on error the caller restores
/// `before`, and the old listeners and TLS configuration stay.
fn apply(
    shared: &std::sync::Arc<crate::shared::Shared>,
    before: &Config,
    after: &Config,
    pairs: &[(&[u8], &[u8])],
) -> Result<(), String> {
    // The parameter as the client spelled it.
    let named = |wanted: &'static [u8]| -> Vec<u8> {
        pairs
            .iter()
            .map(|(name, _)| *name)
            .find(|name| name.eq_ignore_ascii_case(wanted))
            .unwrap_or(wanted)
            .to_vec()
    };
    // As in Redis 7.0, changing any TLS setting while the TLS port is open
    // rebuilds the TLS configuration (re-reading the certificate and key
    // files) for new connections; opening the TLS port builds it if it was
    // never built (a port closed and opened again keeps the one it had).
    let tls_name = pairs.iter().map(|(name, _)| *name).find(|name| {
        name.len() > 4
            && name[..4].eq_ignore_ascii_case(b"tls-")
            && !name.eq_ignore_ascii_case(b"tls-port")
    });
    let opening_tls = before.tls.port == 0 && after.tls.port != 0 && !shared.tls.enabled();
    let rebuild = after.tls.port != 0 && (opening_tls || tls_name.is_some());
    let tls_config = if rebuild {
        let config = crate::tls::build(&after.tls).map_err(|e| {
            tracing::warn!("CONFIG SET: TLS configuration not changed: {e}");
            let name = match tls_name {
                Some(name) if !opening_tls => name.to_vec(),
                _ => named(b"tls-port"),
            };
            set_failed(&name, CANNOT_TLS)
        })?;
        Some(config)
    } else {
        None
    };
    let mut ports = Vec::new();
    for (kind, old, new, name) in [
        (PortKind::Tcp, before.port, after.port, &b"port"[..]),
        (
            PortKind::Tls,
            before.tls.port,
            after.tls.port,
            &b"tls-port"[..],
        ),
    ] {
        if new == old {
            continue;
        }
        let listeners = if new == 0 {
            Vec::new()
        } else {
            listen_on(&after.bind, new, after.tcp_backlog, "").map_err(|e| {
                tracing::warn!("CONFIG SET {}: {e}", String::from_utf8_lossy(name));
                set_failed(&named(name), CANNOT_LISTEN)
            })?
        };
        ports.push((kind, new, listeners));
    }
    if let Some(config) = tls_config {
        shared.tls.install(config);
    }
    for (kind, port, listeners) in ports {
        if kind == PortKind::Tcp {
            shared
                .tcp_port
                .store(u64::from(port), std::sync::atomic::Ordering::Relaxed);
        }
        tracing::info!(
            "CONFIG SET: {} now {}",
            if kind == PortKind::Tcp {
                "port"
            } else {
                "tls-port"
            },
            if port == 0 {
                "closed".to_string()
            } else {
                port.to_string()
            }
        );
        shared.listeners.replace(shared, kind, listeners);
    }
    Ok(())
}

/// Resets the INFO counters.
pub fn resetstat(s: &mut Session, _args: &Args) -> Reply {
    s.shared.stats.reset();
    Reply::ok()
}

/// The subcommand list.
pub fn help(_s: &mut Session, _args: &Args) -> Reply {
    help_reply(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return the parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value> [<directive> <value> ...]",
            "    Set the parameters to the values given (all or none).",
            "RESETSTAT",
            "    Reset the statistics INFO reports.",
        ],
    )
}
