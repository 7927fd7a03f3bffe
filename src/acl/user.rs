//! One ACL user: flags, hashed passwords and permission selectors; the
//! rules that change them (`ACL SETUSER`, `user` lines) and the
//! description `ACL LIST` and `ACL GETUSER` give back.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use super::catalog::{CATEGORIES, Catalog, catalog, category_bit};

/// Why a rule was refused; `message` is Redis's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// Unknown command or category.
    NoSuchCommand,
    /// Anything malformed.
    Syntax,
    /// A key pattern after `allkeys`.
    AfterAllKeys,
    /// A channel pattern after `allchannels`.
    AfterAllChannels,
    /// `<pass` or `!hash` for a password the user does not have.
    NoSuchPassword,
    /// `#hash` that is not 64 lower-case hex digits.
    BadHash,
    /// `+cmd|sub|arg`.
    FirstArgOfSubcommand,
}

impl RuleError {
    /// Redis's text for the error.
    pub fn message(self) -> &'static str {
        match self {
            RuleError::NoSuchCommand => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::AfterAllKeys => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::AfterAllChannels => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
            }
            RuleError::FirstArgOfSubcommand => {
                "Allowing first-arg of a subcommand is not supported"
            }
        }
    }
}

/// A key pattern with the access it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pattern: Vec<u8>,
    read: bool,
    write: bool,
}

/// One set of permissions: the user's root one, or a `(...)` selector. A
/// command is allowed when any of the user's selectors allows it whole.
#[derive(Clone, Debug)]
pub struct Selector {
    /// One bit per catalog entry.
    allowed: Vec<u64>,
    /// Every command allowed (cleared by any removal): the check skips the
    /// bitset.
    all_commands: bool,
    /// Set by `+@all` and cleared only by `-@all`: the user may run commands
    /// added later, so its description starts from `+@all` (Redis's
    /// reserved bit).
    future: bool,
    /// For each category that holds no command here
    /// ([`Catalog::empty_categories`]), whether it is allowed, as the last
    /// rule naming it (or `+@all`/`-@all`) left it. It decides no check;
    /// it keeps `-@set` in what ACL GETUSER and ACL LIST give back, as
    /// Redis does (where the category has commands), so a rule set read
    /// back and loaded into Redis still means what was given.
    empty_allowed: u32,
    /// `+cmd|arg` rules: (command number, allowed first arguments).
    first_args: Vec<(usize, Vec<Vec<u8>>)>,
    all_keys: bool,
    keys: Vec<KeyPattern>,
    all_channels: bool,
    channels: Vec<Vec<u8>>,
}

/// Why a command is refused (with the argument position at fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denial {
    /// The command itself.
    Command,
    /// The key at this argument position.
    Key(usize),
    /// The channel at this argument position.
    Channel(usize),
}

/// What a command names, for the key and channel checks.
pub struct Access<'a> {
    /// The request.
    pub args: &'a [Bytes],
    /// Keys: (position, reads its value, writes it).
    pub keys: &'a [(usize, bool, bool)],
    /// Channels: (position, is a PSUBSCRIBE pattern).
    pub channels: &'a [(usize, bool)],
}

impl Selector {
    fn new(all_channels: bool) -> Selector {
        Selector {
            allowed: vec![0; catalog().len().div_ceil(64)],
            all_commands: false,
            future: false,
            empty_allowed: 0,
            first_args: Vec::new(),
            all_keys: false,
            keys: Vec::new(),
            all_channels,
            channels: Vec::new(),
        }
    }

    fn bit(&self, id: usize) -> bool {
        self.allowed
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if let Some(w) = self.allowed.get_mut(id / 64) {
            if on {
                *w |= 1 << (id % 64);
            } else {
                *w &= !(1 << (id % 64));
                self.all_commands = false;
            }
        }
    }

    /// Allows or forbids a command and all its subcommands.
    fn change(&mut self, cat: &Catalog, id: usize, on: bool) {
        self.set_bit(id, on);
        self.first_args.retain(|(i, _)| *i != id);
        if let Some(e) = cat.entries.get(id) {
            for sub in e.subs.clone() {
                self.set_bit(sub, on);
            }
        }
    }

    fn change_category(&mut self, cat: &Catalog, bit: u32, on: bool) {
        if cat.empty_categories() & bit != 0 {
            if on {
                self.empty_allowed |= bit;
            } else {
                self.empty_allowed &= !bit;
            }
        }
        for id in 0..cat.len() {
            if cat.entries[id].categories & bit != 0 {
                self.change(cat, id, on);
            }
        }
    }

    fn set_all(&mut self, on: bool) {
        let fill = if on { u64::MAX } else { 0 };
        self.allowed.iter_mut().for_each(|w| *w = fill);
        self.all_commands = on;
        self.future = on;
        self.empty_allowed = if on { u32::MAX } else { 0 };
        self.first_args.clear();
    }

    /// Applies one selector rule.
    fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        let cat = catalog();
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || op == b"~*" {
            self.all_keys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.keys.clear();
        } else if is("allchannels") || op == b"&*" {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.set_all(true);
        } else if is("nocommands") || is("-@all") {
            self.set_all(false);
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.all_keys {
                return Err(RuleError::AfterAllKeys);
            }
            let (mut read, mut write) = (false, false);
            let mut offset = 1;
            if op[0] == b'%' {
                loop {
                    match op.get(offset) {
                        Some(b'R' | b'r') if !read => read = true,
                        Some(b'W' | b'w') if !write => write = true,
                        Some(b'~') => {
                            offset += 1;
                            break;
                        }
                        // Redis accepts `%R` with no `~` as an empty pattern.
                        None => break,
                        _ => return Err(RuleError::Syntax),
                    }
                    offset += 1;
                }
            } else {
                (read, write) = (true, true);
            }
            let pattern = &op[offset.min(op.len())..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.keys.iter_mut().find(|k| k.pattern == pattern) {
                Some(k) => {
                    k.read |= read;
                    k.write |= write;
                }
                None => self.keys.push(KeyPattern {
                    pattern: pattern.to_vec(),
                    read,
                    write,
                }),
            }
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::AfterAllChannels);
            }
            let pattern = &op[1..];
            if has_spaces(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(pattern.to_vec());
            }
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let bit = category_bit(&op[2..]).ok_or(RuleError::NoSuchCommand)?;
            self.change_category(cat, bit, op[0] == b'+');
        } else if op[0] == b'+' {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let id = cat.lookup(name).ok_or(RuleError::NoSuchCommand)?;
                    self.change(cat, id, true);
                }
                Some(bar) => {
                    let (top, arg) = (&name[..bar], &name[bar + 1..]);
                    let id = cat.lookup(top).ok_or(RuleError::NoSuchCommand)?;
                    if cat.entries[id].parent.is_some() {
                        return Err(RuleError::FirstArgOfSubcommand);
                    }
                    if arg.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if cat.entries[id].subs.is_empty() {
                        self.add_first_arg(id, arg);
                    } else {
                        let sub = cat.lookup(name).ok_or(RuleError::NoSuchCommand)?;
                        self.change(cat, sub, true);
                    }
                }
            }
        } else if op[0] == b'-' {
            let id = cat.lookup(&op[1..]).ok_or(RuleError::NoSuchCommand)?;
            self.change(cat, id, false);
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    fn add_first_arg(&mut self, id: usize, arg: &[u8]) {
        let lower = arg.to_ascii_lowercase();
        match self.first_args.iter_mut().find(|(i, _)| *i == id) {
            Some((_, list)) => {
                if !list.iter().any(|a| a.eq_ignore_ascii_case(&lower)) {
                    list.push(lower);
                }
            }
            None => self.first_args.push((id, vec![lower])),
        }
    }

    /// Whether this selector lets the command run with these arguments.
    fn check(
        &self,
        id: usize,
        no_auth: bool,
        sub: bool,
        access: &Access<'_>,
    ) -> Result<(), Denial> {
        if !self.all_commands && !no_auth && !self.bit(id) {
            let pos = if sub { 2 } else { 1 };
            let first = access.args.get(pos);
            let allowed = self
                .first_args
                .iter()
                .find(|(i, _)| *i == id)
                .zip(first)
                .is_some_and(|((_, list), a)| list.iter().any(|x| x.eq_ignore_ascii_case(a)));
            if !allowed {
                return Err(Denial::Command);
            }
        }
        if !self.all_keys {
            for &(pos, read, write) in access.keys {
                let Some(key) = access.args.get(pos) else {
                    continue;
                };
                let ok = self.keys.iter().any(|k| {
                    (k.read || !read)
                        && (k.write || !write)
                        && crate::glob::glob_match(&k.pattern, key, false)
                });
                if !ok {
                    return Err(Denial::Key(pos));
                }
            }
        }
        if !self.all_channels {
            for &(pos, is_pattern) in access.channels {
                let Some(ch) = access.args.get(pos) else {
                    continue;
                };
                if !self.channel_ok(ch, is_pattern) {
                    return Err(Denial::Channel(pos));
                }
            }
        }
        Ok(())
    }

    /// A channel against the `&` patterns: a channel name is glob-matched,
    /// a PSUBSCRIBE pattern must be one of them literally.
    fn channel_ok(&self, ch: &[u8], is_pattern: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|p| {
                if is_pattern {
                    p.as_slice() == ch
                } else {
                    crate::glob::glob_match(p, ch, false)
                }
            })
    }

    /// The command rules as Redis writes them: `+@all`/`-@all`, then the
    /// categories that fit best, then single commands.
    fn describe_commands(&self) -> String {
        let cat = catalog();
        let additive = !self.future;
        let mut out = String::from(if additive { "-@all " } else { "+@all " });
        let mut fake = Selector::new(false);
        fake.set_all(!additive);
        let mut temp = self.clone();
        let mut applied = [false; CATEGORIES.len()];
        let empty = cat.empty_categories();
        loop {
            let mut best = None;
            let (mut min_diff, mut max_same) = (usize::MAX, 0);
            for (j, done) in applied.iter().enumerate() {
                if *done {
                    continue;
                }
                let (mut on, mut off) = (0, 0);
                // An empty category counts as one command of its own.
                if empty & (1 << j) != 0 {
                    if temp.empty_allowed & (1 << j) != 0 {
                        on += 1;
                    } else {
                        off += 1;
                    }
                }
                for (id, e) in cat.entries.iter().enumerate() {
                    if e.categories & (1 << j) != 0 {
                        if temp.bit(id) {
                            on += 1;
                        } else {
                            off += 1;
                        }
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                    best = Some(j);
                    min_diff = diff;
                    max_same = same;
                }
            }
            let Some(j) = best else { break };
            fake.change_category(cat, 1 << j, additive);
            temp.change_category(cat, 1 << j, !additive);
            out.push_str(if additive { "+@" } else { "-@" });
            out.push_str(CATEGORIES[j]);
            out.push(' ');
            applied[j] = true;
        }
        // Single commands, each container followed by its subcommands.
        for top in 0..crate::commands::table::COMMANDS.len() {
            let e = &cat.entries[top];
            for id in std::iter::once(top).chain(e.subs.clone()) {
                let user = self.bit(id);
                if user != fake.bit(id) {
                    out.push(if user { '+' } else { '-' });
                    out.push_str(&cat.entries[id].fullname);
                    out.push(' ');
                    fake.change(cat, id, user);
                }
            }
            if !self.bit(top)
                && let Some((_, list)) = self.first_args.iter().find(|(i, _)| *i == top)
            {
                for a in list {
                    out.push('+');
                    out.push_str(&e.fullname);
                    out.push('|');
                    out.push_str(&String::from_utf8_lossy(a));
                    out.push(' ');
                }
            }
        }
        out.pop();
        out
    }

    /// The key patterns as GETUSER shows them.
    fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".to_string();
        }
        let parts: Vec<String> = self.keys.iter().map(describe_key).collect();
        parts.join(" ")
    }

    /// The channel patterns as GETUSER shows them.
    fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".to_string();
        }
        let parts: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        parts.join(" ")
    }

    /// The selector as one ACL LIST string: keys, channels, commands.
    fn describe(&self) -> String {
        let mut out = String::new();
        if self.all_keys {
            out.push_str("~* ");
        } else {
            for k in &self.keys {
                out.push_str(&describe_key(k));
                out.push(' ');
            }
        }
        if self.all_channels {
            out.push_str("&* ");
        } else {
            out.push_str("resetchannels ");
            for c in &self.channels {
                out.push('&');
                out.push_str(&String::from_utf8_lossy(c));
                out.push(' ');
            }
        }
        out.push_str(&self.describe_commands());
        out
    }

    /// GETUSER's commands / keys / channels fields.
    pub fn fields(&self) -> [(&'static str, String); 3] {
        [
            ("commands", self.describe_commands()),
            ("keys", self.describe_keys()),
            ("channels", self.describe_channels()),
        ]
    }
}

fn describe_key(k: &KeyPattern) -> String {
    let prefix = match (k.read, k.write) {
        (true, true) => "~".to_string(),
        (true, false) => "%R~".to_string(),
        (false, true) => "%W~".to_string(),
        (false, false) => "%~".to_string(),
    };
    format!("{prefix}{}", String::from_utf8_lossy(&k.pattern))
}

/// Whether a pattern or user name holds a space or a NUL (Redis refuses
/// them, so that ACL LIST output can be read back).
pub fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| b == 0 || b.is_ascii_whitespace())
}

/// SHA-256 of a password, as every user's passwords are stored.
pub fn hash_password(password: &[u8]) -> [u8; 32] {
    Sha256::digest(password).into()
}

fn hex(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hash(text: &[u8]) -> Result<[u8; 32], RuleError> {
    if text.len() != 64 || !text.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(RuleError::BadHash);
    }
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| RuleError::BadHash)?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| RuleError::BadHash)?;
    }
    Ok(out)
}

/// `sanitize-payload` / `skip-sanitize-payload`: kept only to be shown back
/// (pubsubd has no RESTORE whose payload they govern).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sanitize {
    Unset,
    Skip,
    On,
}

/// An ACL user.
#[derive(Clone, Debug)]
pub struct User {
    /// The user name.
    pub name: Bytes,
    enabled: bool,
    nopass: bool,
    sanitize: Sanitize,
    /// SHA-256 digests, in the order added.
    passwords: Vec<[u8; 32]>,
    /// The root selector (rules outside parentheses).
    root: Selector,
    /// `(...)` selectors.
    selectors: Vec<Selector>,
    /// May run anything on any key and channel: the per-command check is
    /// skipped. Recomputed after every change.
    unrestricted: bool,
}

impl User {
    /// A new user as Redis creates one: off, no passwords, no commands, no
    /// keys, and channels per `acl-pubsub-default`.
    pub fn new(name: Bytes, all_channels: bool) -> User {
        User {
            name,
            enabled: false,
            nopass: false,
            sanitize: Sanitize::Unset,
            passwords: Vec::new(),
            root: Selector::new(all_channels),
            selectors: Vec::new(),
            unrestricted: false,
        }
    }

    /// The `default` user before any configuration: on, nopass, everything.
    pub fn default_user() -> User {
        let mut u = User::new(Bytes::from_static(b"default"), true);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = u.apply(op.as_bytes(), true);
        }
        u
    }

    /// Whether the user can log in at all.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether any password logs in (and the user needs no AUTH when it is
    /// `default`).
    pub fn nopass(&self) -> bool {
        self.nopass
    }

    /// Whether the per-command check can be skipped.
    pub fn unrestricted(&self) -> bool {
        self.unrestricted
    }

    /// The passwords' digests in hex, as GETUSER lists them.
    pub fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(hex).collect()
    }

    /// Checks a password: its digest against every stored one, each compared
    /// in constant time, all of them always compared.
    pub fn password_ok(&self, given: &[u8]) -> bool {
        let digest = hash_password(given);
        let mut ok = false;
        for p in &self.passwords {
            ok |= crate::auth::constant_time_eq(p, &digest);
        }
        self.enabled && (self.nopass || ok)
    }

    /// Applies one rule (`on`, `>pw`, `+@all`, `(~x +get)`...).
    /// `all_channels` is `acl-pubsub-default` for `reset`.
    pub fn apply(&mut self, op: &[u8], all_channels: bool) -> Result<(), RuleError> {
        let result = self.apply_inner(op, all_channels);
        self.unrestricted = self.root.all_commands && self.root.all_keys && self.root.all_channels;
        result
    }

    fn apply_inner(&mut self, op: &[u8], all_channels: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Sanitize::Skip;
        } else if is("sanitize-payload") {
            self.sanitize = Sanitize::On;
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let digest = if op[0] == b'>' {
                hash_password(&op[1..])
            } else {
                parse_hash(&op[1..])?
            };
            if !self.passwords.contains(&digest) {
                self.passwords.push(digest);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let digest = if op[0] == b'<' {
                hash_password(&op[1..])
            } else {
                parse_hash(&op[1..])?
            };
            let before = self.passwords.len();
            self.passwords.retain(|p| *p != digest);
            if self.passwords.len() == before {
                return Err(RuleError::NoSuchPassword);
            }
        } else if op[0] == b'(' && op.last() == Some(&b')') {
            let inner = &op[1..op.len() - 1];
            let words = crate::splitargs::split_args(inner).ok_or(RuleError::Syntax)?;
            let mut s = Selector::new(false);
            for w in &words {
                if !w.is_empty() {
                    s.apply(w)?;
                }
            }
            self.selectors.push(s);
        } else if is("clearselectors") {
            self.selectors.clear();
        } else if is("reset") {
            self.nopass = false;
            self.passwords.clear();
            self.root.all_keys = false;
            self.root.keys.clear();
            self.root.all_channels = all_channels;
            self.root.channels.clear();
            self.enabled = false;
            self.sanitize = Sanitize::On;
            self.selectors.clear();
            self.root.set_all(false);
        } else {
            self.root.apply(op)?;
        }
        Ok(())
    }

    /// Checks a command: allowed when some selector allows it whole;
    /// otherwise the denial Redis reports (the command if no selector
    /// allows it, else the last key or channel at fault).
    pub fn check(
        &self,
        id: usize,
        no_auth: bool,
        sub: bool,
        access: &Access<'_>,
    ) -> Result<(), Denial> {
        if self.unrestricted {
            return Ok(());
        }
        let mut worst = Denial::Command;
        for s in std::iter::once(&self.root).chain(&self.selectors) {
            match s.check(id, no_auth, sub, access) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    let rank = |d: Denial| match d {
                        Denial::Command => (0, 0),
                        Denial::Key(p) => (1, p),
                        Denial::Channel(p) => (2, p),
                    };
                    if rank(d) > rank(worst) {
                        worst = d;
                    }
                }
            }
        }
        Err(worst)
    }

    /// Whether the user may be subscribed to `ch` (a pattern when
    /// `is_pattern`), by any selector.
    pub fn channel_allowed(&self, ch: &[u8], is_pattern: bool) -> bool {
        std::iter::once(&self.root)
            .chain(&self.selectors)
            .any(|s| s.channel_ok(ch, is_pattern))
    }

    /// Whether some selector has every channel.
    pub fn all_channels(&self) -> bool {
        std::iter::once(&self.root)
            .chain(&self.selectors)
            .any(|s| s.all_channels)
    }

    /// Every `&` pattern of every selector.
    pub fn channel_patterns(&self) -> Vec<Vec<u8>> {
        std::iter::once(&self.root)
            .chain(&self.selectors)
            .flat_map(|s| s.channels.iter().cloned())
            .collect()
    }

    /// The flags GETUSER lists, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut out = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            out.push("nopass");
        }
        match self.sanitize {
            Sanitize::Skip => out.push("skip-sanitize-payload"),
            Sanitize::On => out.push("sanitize-payload"),
            Sanitize::Unset => {}
        }
        out
    }

    /// The root selector.
    pub fn root(&self) -> &Selector {
        &self.root
    }

    /// The `(...)` selectors.
    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    /// The rules that recreate the user (ACL LIST, ACL SAVE), after the name.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for f in self.flags() {
            out.push_str(f);
            out.push(' ');
        }
        for p in &self.passwords {
            out.push('#');
            out.push_str(&hex(p));
            out.push(' ');
        }
        out.push_str(&self.root.describe());
        for s in &self.selectors {
            out.push_str(" (");
            out.push_str(&s.describe());
            out.push(')');
        }
        out
    }
}

/// Joins selector rules spread over several words (`(~x`, `+get)`) as
/// Redis does; Err(index of the opening word) when one is not closed.
pub fn merge_selector_args(args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, a) in args.iter().enumerate() {
        if let Some((_, acc)) = open.as_mut() {
            acc.push(b' ');
            acc.extend_from_slice(a);
            if a.last() == Some(&b')')
                && let Some((_, acc)) = open.take()
            {
                out.push(acc);
            }
            continue;
        }
        if a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((i, a.clone()));
            continue;
        }
        out.push(a.clone());
    }
    match open {
        Some((i, _)) => Err(i),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &str) -> User {
        let mut u = User::new(Bytes::from_static(b"u"), false);
        for r in rules.split(' ') {
            u.apply(r.as_bytes(), false).expect(r);
        }
        u
    }

    fn id(name: &str) -> usize {
        catalog().lookup(name.as_bytes()).expect(name)
    }

    fn check(u: &User, name: &str, args: &[&str]) -> Result<(), Denial> {
        let args: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
        let top = name.split('|').next().unwrap_or(name);
        let keys = crate::acl::access::keys(top, &args, (false, false));
        let channels = crate::acl::access::channels(top, &args);
        u.check(
            id(name),
            false,
            name.contains('|'),
            &Access {
                args: &args,
                keys: &keys,
                channels: &channels,
            },
        )
    }

    #[test]
    fn channels_match_as_globs_and_patterns_literally() {
        let u = user("on nopass -@all +@pubsub &app1:*");
        assert_eq!(check(&u, "publish", &["publish", "app1:x", "m"]), Ok(()));
        assert_eq!(
            check(&u, "publish", &["publish", "app2:x", "m"]),
            Err(Denial::Channel(1))
        );
        assert_eq!(
            check(&u, "subscribe", &["subscribe", "app1:a", "b"]),
            Err(Denial::Channel(2))
        );
        assert_eq!(check(&u, "psubscribe", &["psubscribe", "app1:*"]), Ok(()));
        assert_eq!(
            check(&u, "psubscribe", &["psubscribe", "app1:a*"]),
            Err(Denial::Channel(1))
        );
        assert_eq!(check(&u, "get", &["get", "k"]), Err(Denial::Command));
    }

    #[test]
    fn removing_commands_keeps_future_commands_in_the_description() {
        let u = user("+@all -get ~* &*");
        assert_eq!(u.root().describe_commands(), "+@all -get");
        assert!(!u.unrestricted());
        let u = user("+@all ~* &*");
        assert!(u.unrestricted());
        let u = user("-@all +client -client|kill +select|0");
        assert_eq!(
            check(&u, "client|list", &["client", "list"]),
            Ok(()),
            "{}",
            u.root().describe_commands()
        );
        assert_eq!(
            check(&u, "client|kill", &["client", "kill", "x"]),
            Err(Denial::Command)
        );
        assert_eq!(check(&u, "select", &["select", "0"]), Ok(()));
        assert_eq!(check(&u, "select", &["select", "1"]), Err(Denial::Command));
        assert!(u.root().describe_commands().contains(" +select|0"));
    }

    #[test]
    fn rules_for_categories_without_commands_are_given_back() {
        // @set and @list hold no command here: the rules change no check
        // but are written back as given, as Redis writes them.
        let u = user("+@all -@set ~*");
        assert_eq!(u.root().describe_commands(), "+@all -@set");
        assert_eq!(check(&u, "get", &["get", "k"]), Ok(()));
        let u = user("-@all +@list");
        assert_eq!(u.root().describe_commands(), "-@all +@list");
        assert_eq!(check(&u, "get", &["get", "k"]), Err(Denial::Command));
        // A later rule undoes an earlier one; +@all and -@all reset them.
        assert_eq!(
            user("+@all -@set +@set").root().describe_commands(),
            "+@all"
        );
        assert_eq!(
            user("-@all +@list -@all").root().describe_commands(),
            "-@all"
        );
        assert_eq!(user("-@list +@all").root().describe_commands(), "+@all");
        // Alongside categories that hold commands.
        let u = user("+@all -@string -@hash");
        let d = u.root().describe_commands();
        assert!(
            d.starts_with("+@all ") && d.contains(" -@string") && d.contains(" -@hash"),
            "{d}"
        );
        assert_eq!(check(&u, "get", &["get", "k"]), Err(Denial::Command));
    }

    #[test]
    fn key_patterns_grant_read_and_write_separately() {
        let u = user("+@all %R~r* %W~w* ~rw*");
        assert_eq!(check(&u, "get", &["get", "r1"]), Ok(()));
        assert_eq!(check(&u, "set", &["set", "r1", "v"]), Err(Denial::Key(1)));
        assert_eq!(check(&u, "set", &["set", "w1", "v"]), Ok(()));
        assert_eq!(check(&u, "get", &["get", "w1"]), Err(Denial::Key(1)));
        assert_eq!(
            check(&u, "mset", &["mset", "w1", "v", "x", "v"]),
            Err(Denial::Key(3))
        );
        assert_eq!(check(&u, "incr", &["incr", "rw1"]), Ok(()));
        assert_eq!(u.root().fields()[1].1, "%R~r* %W~w* ~rw*");
    }

    #[test]
    fn passwords_are_hashed_and_removable() {
        let mut u = user("on >a >b");
        assert!(u.password_ok(b"a") && u.password_ok(b"b") && !u.password_ok(b"c"));
        assert_eq!(u.apply(b"<c", false), Err(RuleError::NoSuchPassword));
        u.apply(b"<a", false).expect("remove");
        assert!(!u.password_ok(b"a"));
        let hash = hex(&hash_password(b"b"));
        assert_eq!(u.password_hashes(), std::slice::from_ref(&hash));
        u.apply(format!("!{hash}").as_bytes(), false)
            .expect("remove by hash");
        assert!(!u.password_ok(b"b"));
        assert_eq!(u.apply(b"#ABC", false), Err(RuleError::BadHash));
        u.apply(b"off", false).expect("off");
        u.apply(b"nopass", false).expect("nopass");
        assert!(!u.password_ok(b"x"), "a disabled user cannot log in");
    }

    #[test]
    fn selectors_merge_across_words() {
        let words: Vec<Vec<u8>> = ["on", "(~x", "+get)", "(+set)"]
            .iter()
            .map(|w| w.as_bytes().to_vec())
            .collect();
        let merged = merge_selector_args(&words).expect("balanced");
        assert_eq!(merged[1], b"(~x +get)");
        assert_eq!(merged.len(), 3);
        assert_eq!(merge_selector_args(&words[..2]), Err(1));
    }
}
