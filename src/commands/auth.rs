//! AUTH [username] password

use super::syntax_error;
use crate::protocol::{Args, Reply};
use crate::session::Session;

/// The only user: Redis's `default`.
pub const DEFAULT_USER: &[u8] = b"default";

/// Redis's error for a bad user name or password.
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Checks a user/password pair; the password is compared in constant time.
pub fn credentials_ok(s: &Session, user: &[u8], password: &[u8]) -> bool {
    // Evaluate the password check whatever the user, so timing does not
    // reveal whether the user name was right.
    let pw_ok = s.shared.settings.check_password(password);
    user == DEFAULT_USER && pw_ok
}

/// `+OK` and authenticates the connection, or WRONGPASS.
pub fn auth(s: &mut Session, args: &Args) -> Reply {
    let (user, password) = match args.len() {
        2 => {
            if !s.shared.settings.password_required() {
                return Reply::error(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                );
            }
            (DEFAULT_USER, &args[1][..])
        }
        3 => (&args[1][..], &args[2][..]),
        _ => return syntax_error(),
    };
    if credentials_ok(s, user, password) {
        s.authenticated = true;
        Reply::ok()
    } else {
        // As in Redis, a failed AUTH leaves an earlier authentication intact.
        Reply::error(WRONGPASS)
    }
}
