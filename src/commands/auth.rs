//! AUTH [username] password

use super::syntax_error;
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// The user AUTH with one argument logs in as.
pub const DEFAULT_USER: &[u8] = crate::acl::DEFAULT_USER;

/// Redis's error for a bad user name or password.
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Logs the session in as `user` if `password` is right (compared as
/// SHA-256 digests in constant time); else logs the failure in ACL LOG
/// (`command` is the command name as sent) and returns false. As in Redis,
/// a failed attempt leaves an earlier login intact.
pub fn log_in(s: &mut Session, command: &[u8], user: &[u8], password: &[u8]) -> bool {
    match s.shared.acl.authenticate(user, password) {
        Some(u) => {
            s.set_user(u, true);
            true
        }
        None => {
            super::acl::log_auth_failure(s, command, user);
            false
        }
    }
}

/// `+OK` and authenticates the connection, or WRONGPASS.
pub fn auth(s: &mut Session, args: &Args) -> Reply {
    let (user, password) = match args.len() {
        2 => {
            if s.shared.acl.default_user().nopass() {
                return Reply::error(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                );
            }
            (DEFAULT_USER, &args[1][..])
        }
        3 => (&args[1][..], &args[2][..]),
        _ => return syntax_error(),
    };
    if log_in(s, &args[0], user, password) {
        Reply::ok()
    } else {
        Reply::error(WRONGPASS)
    }
}
