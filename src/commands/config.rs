//! CONFIG GET | SET | RESETSTAT | HELP

use bytes::Bytes;

use super::{help_reply, syntax_error};
use crate::protocol::{Args, Reply};
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
    // As in Redis, changing any TLS setting while TLS is on rebuilds the
    // TLS configuration (re-reading the certificate and key files) for new
    // connections; if that fails, nothing changes.
    let tls_name = pairs
        .iter()
        .map(|(name, _)| *name)
        .find(|name| name.len() > 4 && name[..4].eq_ignore_ascii_case(b"tls-"));
    let shared = std::sync::Arc::clone(&s.shared);
    let result = shared.update_config(|c| {
        let before = c.clone();
        c.set(&pairs)?;
        if let Some(name) = tls_name
            && shared.tls.enabled()
            && let Err(e) = shared.tls.reload(&c.tls)
        {
            tracing::warn!("CONFIG SET: TLS configuration not changed: {e}");
            *c = before;
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{}') - Unable to update TLS configuration. Check server logs.",
                String::from_utf8_lossy(name)
            ));
        }
        Ok(())
    });
    match result {
        Ok(()) => Reply::ok(),
        Err(e) => Reply::error(e),
    }
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
