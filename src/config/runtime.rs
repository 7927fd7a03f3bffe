//! CONFIG GET and CONFIG SET on a running server's configuration.

use super::*;

impl Config {
    /// Returns CONFIG GET's answer for `patterns`: each parameter whose name
    /// matches one of the globs (case-insensitively), once, with its value in
    /// Redis's normalised form.
    ///
    /// As in Redis, a pattern without `*`, `?` or `[` is an exact lookup and
    /// the reply uses the name as the client spelled it.
    pub fn get(&self, patterns: &[&[u8]]) -> Vec<(String, Vec<u8>)> {
        let mut found: Vec<(String, Vec<u8>)> = Vec::new();
        let seen = |found: &[(String, Vec<u8>)], name: &str| {
            found.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        for &pattern in patterns {
            if !pattern.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
                if let Some(param) = find_param(pattern) {
                    let name = String::from_utf8_lossy(pattern).into_owned();
                    if !seen(&found, &name) {
                        found.push((name, param.read(self)));
                    }
                }
                continue;
            }
            for param in PARAMS {
                if !seen(&found, param.name) && glob_match(pattern, param.name.as_bytes(), true) {
                    found.push((param.name.to_string(), param.read(self)));
                }
            }
        }
        found
    }

    /// Applies CONFIG SET `name value [name value ...]` all-or-nothing;
    /// returns Redis's full error text (without the leading `-`) when any
    /// name is unknown, immutable or repeated, or any value is invalid, in
    /// which case nothing changes. The caller checks the argument count.
    ///
    /// As in Redis, a list-valued parameter's value is split on single
    /// spaces, and `client-output-buffer-limit` changes only the classes it
    /// names.
    pub fn set(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
        let mut chosen: Vec<(&'static Param, &[u8], &[u8])> = Vec::new();
        for &(name, value) in pairs {
            let Some(param) = find_param(name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(name)
                ));
            };
            // Redis refuses a protected parameter whatever the value.
            if PROTECTED.contains(&param.name) {
                return Err(set_failed(name, MSG_PROTECTED));
            }
            if !param.mutable && !self.holds(param, value) {
                return Err(set_failed(name, MSG_IMMUTABLE));
            }
            if chosen.iter().any(|(p, _, _)| p.name == param.name) {
                return Err(set_failed(name, MSG_DUPLICATE));
            }
            chosen.push((param, name, value));
        }
        let mut next = self.clone();
        // An immutable parameter set to the value it has is a no-op.
        chosen.retain(|(param, _, _)| param.mutable);
        for (param, name, value) in chosen {
            let result = match &param.kind {
                Kind::One { set, .. } => set(&mut next, value),
                Kind::Many { set, .. } => set(&mut next, &split_on_spaces(value)),
                Kind::Constant(_) => Err(MSG_IMMUTABLE.to_string()),
            };
            result.map_err(|message| set_failed(name, &message))?;
        }
        *self = next;
        Ok(())
    }
}

impl Config {
    /// Whether `value` is the value `param` has now, as CONFIG SET would
    /// read it: so that setting every parameter CONFIG GET lists to its own
    /// value succeeds (Redis's "CONFIG sanity"), immutable ones included.
    fn holds(&self, param: &Param, value: &[u8]) -> bool {
        let current = param.read(self);
        let mut probe = self.clone();
        let parsed = match &param.kind {
            Kind::One { set, .. } => set(&mut probe, value),
            Kind::Many { set, .. } => set(&mut probe, &split_on_spaces(value)),
            Kind::Constant(c) => {
                return value.eq_ignore_ascii_case(c.as_bytes());
            }
        };
        parsed.is_ok() && param.read(&probe) == current
    }
}

/// Returns CONFIG SET's error text for a bad `name`.
pub(super) fn set_failed(name: &[u8], message: &str) -> String {
    format!(
        "ERR CONFIG SET failed (possibly related to argument '{}') - {message}",
        String::from_utf8_lossy(name)
    )
}

/// Returns `value` split on single spaces, as Redis's CONFIG SET splits a
/// list-valued parameter (empty input gives no words; doubled spaces give an
/// empty word).
pub(super) fn split_on_spaces(value: &[u8]) -> Vec<Vec<u8>> {
    if value.is_empty() {
        return Vec::new();
    }
    value.split(|&b| b == b' ').map(<[u8]>::to_vec).collect()
}
