//! ACL users, as in Redis 7: who may log in, and which commands, keys and
//! channels each user may use.
//!
//! The users live in one map behind a lock that only logins and ACL
//! commands take. A connection keeps an `Arc` of its user and the
//! [`Acl::epoch`] it read it at; every ACL change bumps the epoch, and a
//! connection that sees a new epoch (one relaxed atomic load per command)
//! fetches its user again. So the per-command check is a bitset lookup and,
//! for PUBLISH and SUBSCRIBE, a glob match against the user's `&` patterns,
//! with no shared lock on the hot path.

pub mod access;
pub mod catalog;
pub mod log;
pub mod user;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use crate::config::Config;
pub use log::{AclLog, Context, Entry, Reason};
pub use user::{Access, Denial, RuleError, User};

/// The user every connection starts as.
pub const DEFAULT_USER: &[u8] = b"default";

/// Longest ACL file read by ACL LOAD or at start-up, so a wrong path (a
/// device, a huge file) cannot exhaust memory. Not configurable.
pub const ACL_FILE_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Redis's reply to ACL LOAD / SAVE without `aclfile`.
pub const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// Every user and the ACL log.
pub struct Acl {
    users: RwLock<BTreeMap<Bytes, Arc<User>>>,
    /// Bumped on every change to any user.
    epoch: AtomicU64,
    /// The default user needs a password (or is off): new connections
    /// start unauthenticated.
    auth_required: AtomicBool,
    /// `acl-pubsub-default allchannels`.
    pubsub_default_all: AtomicBool,
    /// `acllog-max-len`.
    log_max_len: AtomicUsize,
    /// `aclfile`.
    file: Mutex<Option<PathBuf>>,
    log: Mutex<AclLog>,
}

/// The users held still (see [`Acl::hold`]).
pub struct Snapshot<'a> {
    users: RwLockReadGuard<'a, BTreeMap<Bytes, Arc<User>>>,
    epoch: u64,
}

impl Snapshot<'_> {
    /// The epoch of these users.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The user named `name`.
    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.get(name).cloned()
    }
}

/// Why ACL SETUSER failed: Redis's error text.
pub type SetUserError = String;

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Acl {
    /// The ACL of a server started with `config`: the default user (with
    /// `requirepass` as its password). `user` lines and `aclfile` are
    /// loaded by [`Acl::load_at_startup`].
    pub fn new(config: &Config) -> Acl {
        let acl = Acl {
            users: RwLock::new(BTreeMap::new()),
            epoch: AtomicU64::new(0),
            auth_required: AtomicBool::new(false),
            pubsub_default_all: AtomicBool::new(config.acl_pubsub_default_all),
            log_max_len: AtomicUsize::new(config.acllog_max_len),
            file: Mutex::new(config.aclfile.clone()),
            log: Mutex::new(AclLog::default()),
        };
        let mut users = BTreeMap::new();
        let mut default = User::default_user();
        set_password(&mut default, config.requirepass.as_deref());
        users.insert(Bytes::from_static(DEFAULT_USER), Arc::new(default));
        acl.install(users);
        acl
    }

    /// Replaces the user map, and refreshes what is derived from it.
    fn install(&self, users: BTreeMap<Bytes, Arc<User>>) {
        let mut guard = write(&self.users);
        *guard = users;
        self.changed(&guard);
    }

    fn changed(&self, users: &BTreeMap<Bytes, Arc<User>>) {
        let required = users
            .get(DEFAULT_USER)
            .is_none_or(|u| !u.nopass() || !u.enabled());
        self.auth_required.store(required, Ordering::Relaxed);
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// Loads the `user` lines of the configuration, then the ACL file, as
    /// Redis does at start-up; the error stops start-up.
    pub fn load_at_startup(&self, config: &Config) -> Result<(), String> {
        if config.aclfile.is_some() && !config.acl_users.is_empty() {
            return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".to_string());
        }
        let all = self.pubsub_default_all();
        let mut users = read(&self.users).clone();
        for line in &config.acl_users {
            let Some((name, rules)) = line.split_first() else {
                continue;
            };
            let name = Bytes::copy_from_slice(name);
            let mut u = match users.get(&name) {
                Some(existing) => {
                    let mut u = User::clone(existing);
                    let _ = u.apply(b"reset", all);
                    u
                }
                None => User::new(name.clone(), all),
            };
            let rules = user::merge_selector_args(rules)
                .map_err(|_| "Unmatched parenthesis in selector definition".to_string())?;
            for r in &rules {
                u.apply(r, all).map_err(|e| {
                    format!(
                        "Error loading ACL rule '{}' for the user named '{}': {}",
                        String::from_utf8_lossy(r),
                        String::from_utf8_lossy(&name),
                        e.message()
                    )
                })?;
            }
            users.insert(name, Arc::new(u));
        }
        self.install(users);
        if config.aclfile.is_some() {
            self.load_file()
                .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
        }
        Ok(())
    }

    /// The change counter a connection compares with its cached one.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The users as they are now, unchanged while the snapshot is held:
    /// every change takes the users' write lock. For a check that must
    /// not race with ACL SETUSER (see `commands::subscribe`). Hold it
    /// briefly and take no ACL method's lock meanwhile.
    pub fn hold(&self) -> Snapshot<'_> {
        let users = read(&self.users);
        Snapshot {
            epoch: self.epoch(),
            users,
        }
    }

    /// Whether a new connection must authenticate.
    pub fn auth_required(&self) -> bool {
        self.auth_required.load(Ordering::Relaxed)
    }

    /// `acl-pubsub-default allchannels`.
    pub fn pubsub_default_all(&self) -> bool {
        self.pubsub_default_all.load(Ordering::Relaxed)
    }

    /// Mirrors the ACL directives after CONFIG SET; `requirepass` resets
    /// the default user's passwords when it was among the changes.
    pub fn apply_config(&self, config: &Config, requirepass_changed: bool) {
        self.pubsub_default_all
            .store(config.acl_pubsub_default_all, Ordering::Relaxed);
        // As in Redis, a smaller `acllog-max-len` trims the log at its next
        // entry.
        self.log_max_len
            .store(config.acllog_max_len, Ordering::Relaxed);
        if requirepass_changed {
            let mut users = write(&self.users);
            let mut u = users
                .get(DEFAULT_USER)
                .map_or_else(User::default_user, |u| User::clone(u));
            set_password(&mut u, config.requirepass.as_deref());
            users.insert(Bytes::from_static(DEFAULT_USER), Arc::new(u));
            self.changed(&users);
        }
    }

    /// The user named `name`.
    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        read(&self.users).get(name).cloned()
    }

    /// The default user.
    pub fn default_user(&self) -> Arc<User> {
        self.get(DEFAULT_USER)
            .unwrap_or_else(|| Arc::new(User::default_user()))
    }

    /// The user if `password` logs in as `name` (the user exists, is on,
    /// and the password matches or it is `nopass`).
    pub fn authenticate(&self, name: &[u8], password: &[u8]) -> Option<Arc<User>> {
        let user = self.get(name);
        // Hash the password whether or not the user exists, so the reply's
        // timing does not tell which user names exist.
        match user {
            Some(u) if u.password_ok(password) => Some(u),
            Some(_) => None,
            None => {
                let _ = user::hash_password(password);
                None
            }
        }
    }

    /// ACL SETUSER: applies every rule to a copy of the user (or a new one)
    /// and installs it only if all are valid. Returns the user before and
    /// after.
    pub fn set_user(
        &self,
        name: &[u8],
        rules: &[Vec<u8>],
    ) -> Result<(Option<Arc<User>>, Arc<User>), SetUserError> {
        let all = self.pubsub_default_all();
        let mut users = write(&self.users);
        let old = users.get(name).cloned();
        let mut u = match &old {
            Some(o) => User::clone(o),
            None => User::new(Bytes::copy_from_slice(name), all),
        };
        for r in rules {
            if let Err(e) = u.apply(r, all) {
                return Err(format!(
                    "ERR Error in ACL SETUSER modifier '{}': {}",
                    String::from_utf8_lossy(r),
                    e.message()
                ));
            }
        }
        let new = Arc::new(u);
        users.insert(Bytes::copy_from_slice(name), Arc::clone(&new));
        self.changed(&users);
        Ok((old, new))
    }

    /// ACL DELUSER: removes the users that exist; returns their names.
    pub fn delete(&self, names: &[&[u8]]) -> Vec<Bytes> {
        let mut users = write(&self.users);
        let removed: Vec<Bytes> = names
            .iter()
            .filter_map(|n| users.remove_entry(*n).map(|(k, _)| k))
            .collect();
        if !removed.is_empty() {
            self.changed(&users);
        }
        removed
    }

    /// Every user, sorted by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        read(&self.users).values().cloned().collect()
    }

    /// The configured ACL file.
    pub fn file(&self) -> Option<PathBuf> {
        lock(&self.file).clone()
    }

    /// ACL LOAD: replaces every user with the file's, or changes nothing and
    /// returns Redis's description of every error. Returns the names of the
    /// users replaced (their connections must close, as in Redis).
    pub fn load_file(&self) -> Result<Vec<Bytes>, String> {
        let Some(path) = self.file() else {
            return Err(NO_ACL_FILE.to_string());
        };
        let text = read_bounded(&path)
            .map_err(|e| format!("Error loading ACLs, opening file '{}': {e}", path.display()))?;
        let shown = path.display().to_string();
        let all = self.pubsub_default_all();
        let mut users: BTreeMap<Bytes, Arc<User>> = BTreeMap::new();
        let mut errors = String::new();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let n = i + 1;
            let line = trim(raw);
            if line.is_empty() {
                continue;
            }
            let words: Vec<Vec<u8>> = line.split(|&b| b == b' ').map(<[u8]>::to_vec).collect();
            if words.len() < 2 || words[0] != b"user" {
                errors.push_str(&format!(
                    "{shown}:{n} should start with user keyword followed by the username. "
                ));
                continue;
            }
            let name = Bytes::copy_from_slice(&words[1]);
            if user::has_spaces(&name) {
                errors.push_str(&format!(
                    "'{shown}:{n}: username '{}' contains invalid characters. ",
                    String::from_utf8_lossy(&name)
                ));
                continue;
            }
            if users.contains_key(&name) {
                errors.push_str(&format!(
                    "WARNING: Duplicate user '{}' found on line {n}. ",
                    String::from_utf8_lossy(&name)
                ));
                continue;
            }
            let mut u = User::new(name.clone(), all);
            match user::merge_selector_args(&words[2..]) {
                Err(_) => errors.push_str(&format!(
                    "{shown}:{n}: Unmatched parenthesis in selector definition."
                )),
                Ok(rules) => {
                    for r in &rules {
                        if let Err(e) = u.apply(trim(r), all) {
                            errors.push_str(&format!("{shown}:{n}: {}. ", e.message()));
                        }
                    }
                }
            }
            users.insert(name, Arc::new(u));
        }
        if !errors.is_empty() {
            errors.push_str(
                "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
            );
            return Err(errors);
        }
        users
            .entry(Bytes::from_static(DEFAULT_USER))
            .or_insert_with(|| Arc::new(User::default_user()));
        let replaced: Vec<Bytes> = read(&self.users)
            .keys()
            .filter(|k| k.as_ref() != DEFAULT_USER)
            .cloned()
            .collect();
        self.install(users);
        Ok(replaced)
    }

    /// ACL SAVE: writes every user to the ACL file (through a temporary
    /// file renamed over it, so a reader never sees half a file).
    pub fn save_file(&self) -> Result<(), String> {
        let Some(path) = self.file() else {
            return Err(NO_ACL_FILE.to_string());
        };
        let mut text = String::new();
        for u in self.users() {
            text.push_str(&format!(
                "user {} {}\n",
                String::from_utf8_lossy(&u.name),
                u.describe()
            ));
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let result = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!("ACL SAVE to {}: {e}", path.display());
            return Err("ERR There was an error trying to save the ACLs. Please check the server logs for more information".to_string());
        }
        Ok(())
    }

    /// Records a denial in the ACL log.
    pub fn log(&self, entry: Entry) {
        let max = self.log_max_len.load(Ordering::Relaxed);
        lock(&self.log).add(entry, max);
    }

    /// The newest `count` log entries.
    pub fn log_entries(&self, count: usize) -> Vec<Entry> {
        lock(&self.log).take(count)
    }

    /// ACL LOG RESET.
    pub fn log_reset(&self) {
        lock(&self.log).clear();
    }
}

/// Sets the default user's password from `requirepass` as Redis does:
/// `resetpass`, then `>password`, or `nopass` when it is empty.
fn set_password(u: &mut User, password: Option<&[u8]>) {
    let _ = u.apply(b"resetpass", false);
    match password {
        Some(p) => {
            let mut op = Vec::with_capacity(p.len() + 1);
            op.push(b'>');
            op.extend_from_slice(p);
            let _ = u.apply(&op, false);
        }
        None => {
            let _ = u.apply(b"nopass", false);
        }
    }
}

/// Strips spaces, tabs and line ends at both ends.
fn trim(s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// Reads a file of at most [`ACL_FILE_MAX_BYTES`].
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    f.take(ACL_FILE_MAX_BYTES + 1).read_to_end(&mut out)?;
    if out.len() as u64 > ACL_FILE_MAX_BYTES {
        return Err(std::io::Error::other("file too large"));
    }
    Ok(out)
}

/// Milliseconds since the Unix epoch (ACL LOG ages).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Checks a `user` directive's words (name, rules) as Redis does when it
/// reads the configuration; the error text stops start-up.
pub fn check_user_line(args: &[Vec<u8>]) -> Result<(), String> {
    let Some((name, rules)) = args.split_first() else {
        return Err("Bad directive or wrong number of arguments".to_string());
    };
    if user::has_spaces(name) {
        return Err("Spaces not allowed in ACL usernames".to_string());
    }
    let rules = user::merge_selector_args(rules).map_err(|i| {
        format!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(&rules[i])
        )
    })?;
    let mut scratch = User::new(Bytes::copy_from_slice(name), false);
    for r in &rules {
        scratch.apply(r, false).map_err(|e| {
            format!(
                "Error in user declaration '{}': {}",
                String::from_utf8_lossy(r),
                e.message()
            )
        })?;
    }
    Ok(())
}
