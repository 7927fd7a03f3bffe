//! Lua scripting: EVAL, EVALSHA, SCRIPT, on an embedded Lua 5.1 (mlua with
//! vendored Lua, the version Redis embeds).
//!
//! One Lua state serves every script, as in Redis. Scripts run with the
//! keyspace lock held, so they are atomic with respect to every other client;
//! other clients' commands wait for the script (see [`ScriptState`]), and once
//! it has run longer than `busy-reply-threshold` they get `-BUSY` instead,
//! until it ends or SCRIPT KILL stops it (from a Lua hook that checks every
//! [`HOOK_INSTRUCTIONS`] instructions, and on every line once a kill is
//! requested, so `pcall` cannot swallow it; coroutines carry the hook too).
//!
//! The sandbox is Redis 7's: the same global names (with the `cjson`,
//! `cmsgpack`, `bit` and `struct` libraries of `lualibs.rs` and
//! `luastruct.rs`), and every global, the `redis` table, each library table and the string
//! metatable read-only, with Redis's "Attempt to modify a readonly table".
//! Redis patches Lua's C code for read-only tables; stock Lua cannot do that,
//! so here the globals table and each library table are empty proxies whose
//! `__index` is the real table and whose `__newindex` raises that error, and
//! the base functions that bypass metamethods (`rawset`, `setmetatable`,
//! `rawget`, `next`, `pairs`, `getmetatable`) refuse or see through the
//! proxies. Whatever `table.insert`, `table.remove` or `table.sort` write
//! raw into a proxy lasts only until that script ends: every proxy is emptied
//! after each run. Chunks are only ever parsed as source (a precompiled
//! binary chunk gets Redis's "unexpected symbol near 'char(27)'"), the Lua
//! heap is capped by `lua-memory-limit`, conversions between Lua values and
//! replies stop at [`LUA_REPLY_MAX_DEPTH`], and patterns at
//! [`LUA_PATTERN_MAX_ITEMS`].
//!
//! `redis.call` and `redis.pcall` are thin Lua wrappers around one host
//! function set per script run, so that a failed `redis.call` raises Redis's
//! error table (`{err=...}`), catchable with `pcall`, exactly as in Redis.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use mlua::chunk::ChunkMode;
use mlua::debug::{Debug, DebugEvent};
use mlua::state::{GcIncParams, GcMode};
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use tokio::sync::Notify;

use crate::protocol::Reply;

/// How often (in Lua VM instructions) a running script checks for SCRIPT
/// KILL. After a kill request the check runs on every line instead.
pub const HOOK_INSTRUCTIONS: u32 = 10_000;
/// Most scripts kept compiled (EVAL and SCRIPT LOAD alike); past it the least
/// recently used is dropped, and EVALSHA of it gets NOSCRIPT (clients then
/// send the script again).
pub const SCRIPT_CACHE_MAX: usize = 1000;
/// Deepest nesting converted between Lua values and replies, in both
/// directions (a script's return value, a `redis.call` reply handed to
/// Lua). The conversions recurse, and so do the reply's encoding
/// (`src/protocol/reply.rs`, and the codec under it) and its drop, all on
/// the stack of the tokio worker that runs the script (2 MiB); this bound
/// keeps every one of them bounded, at a few times less than the ~1,700
/// levels at which the heaviest of them (a RESP2 map) overflowed that stack
/// in the debug build the tests run. At this depth a script's reply holds
/// Redis's `-ERR reached lua stack limit` instead of the value, as Redis's
/// does at its Lua stack limit (about 8,000 levels there); a table that
/// contains itself ends the same way. Not configurable.
pub const LUA_REPLY_MAX_DEPTH: usize = 500;
/// Default of `lua-memory-limit` (a pubsubd directive; Redis 7 has no Lua
/// memory limit): the most memory the Lua state may hold, compiled scripts
/// included. An allocation past it fails with Lua's "not enough memory",
/// which ends the script with Redis's `-ERR Error running script <sha>, not
/// enough memory`; the garbage is then collected and the engine stays usable.
pub const LUA_MEMORY_LIMIT_DEFAULT: u64 = 128 * 1024 * 1024;
/// Smallest `lua-memory-limit` accepted: room for the sandbox itself and a
/// few small scripts.
pub const LUA_MEMORY_LIMIT_MIN: u64 = 1024 * 1024;
/// Most quantifiers (`? * + -`) and parentheses a Lua pattern may hold when
/// it is longer than this many bytes. Lua 5.1 matches a pattern by recursing
/// in C once per quantified item or capture, with no limit of its own, so a
/// long pattern such as `('a?'):rep(100000)` overflows the worker's stack and
/// aborts the process. `string.find` (unless plain), `match`, `gmatch` and
/// `gsub` refuse such a pattern with "pattern too complex" (Lua 5.2's text
/// for its own bound, which is this same number). Not configurable.
pub const LUA_PATTERN_MAX_ITEMS: usize = 200;
/// Lua 5.1's default garbage-collector pause (percent), restored after every
/// script (a script may change it with `collectgarbage('setpause')`).
const LUA_GC_PAUSE: i32 = 200;
/// Lua 5.1's default garbage-collector step multiplier (percent), restored
/// after every script (`collectgarbage('setstepmul')` changes it).
const LUA_GC_STEPMUL: i32 = 200;
/// Most full garbage-collection cycles run after a script that ran out of
/// memory or was killed: enough to halve a string table grown to the whole
/// `lua-memory-limit` back to its start size.
const LUA_GC_CYCLES_MAX: usize = 32;

/// Redis's reply while a script is busy.
pub const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// The error a killed script returns to its caller (before the script
/// location suffix).
pub const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
/// Redis's error for a reply nested deeper than [`LUA_REPLY_MAX_DEPTH`].
const STACK_LIMIT: &str = "ERR reached lua stack limit";
/// The first byte of Lua's binary-chunk signature (ESC).
const BINARY_CHUNK_MARK: u8 = 0x1b;

/// How long FUNCTION LOAD may run a library's body (registering its
/// functions) before it is stopped: Redis's fixed `LOAD_TIMEOUT_MS`. The
/// body runs with the keyspace held, so it must not loop forever.
pub const FUNCTION_LOAD_TIMEOUT_MS: u64 = 500;

/// At most this many function libraries: each FUNCTION LOAD of a new name
/// adds one, and its code and names live outside the Lua heap that
/// `lua-memory-limit` caps. Redis has no such limit (no directive).
pub const FUNCTION_LIBRARIES_MAX: usize = 1000;

/// At most this many functions over all libraries, for the same reason as
/// [`FUNCTION_LIBRARIES_MAX`] (no Redis directive).
pub const FUNCTIONS_MAX: usize = 10_000;

/// Redis's `-BUSY` for other clients while a function runs too long.
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// Script flags, from an EVAL script's `#!lua flags=...` shebang or the
/// `flags` given to `redis.register_function` (Redis's names and meaning).
pub mod script_flags {
    /// The script never writes: it runs read-only (and despite maxmemory).
    pub const NO_WRITES: u8 = 1;
    /// The script may write over maxmemory.
    pub const ALLOW_OOM: u8 = 2;
    /// Accepted for Redis scripts (pubsubd is never a stale replica).
    pub const ALLOW_STALE: u8 = 4;
    /// Accepted for Redis scripts (pubsubd has no cluster mode).
    pub const NO_CLUSTER: u8 = 8;
    /// Accepted for Redis scripts (pubsubd has no cluster mode).
    pub const ALLOW_CROSS_SLOT: u8 = 16;
    /// An EVAL script without a shebang: Redis 6 rules (a write over
    /// maxmemory is refused per command, not for the whole script).
    pub const EVAL_COMPAT: u8 = 32;
    /// Each flag's name.
    pub const NAMES: [(&str, u8); 5] = [
        ("no-writes", NO_WRITES),
        ("allow-oom", ALLOW_OOM),
        ("allow-stale", ALLOW_STALE),
        ("no-cluster", NO_CLUSTER),
        ("allow-cross-slot-keys", ALLOW_CROSS_SLOT),
    ];
}

/// An EVAL body's flags and the length of its shebang line (0 without
/// one: then [`script_flags::EVAL_COMPAT`]), or Redis's error text.
pub fn shebang_flags(body: &[u8]) -> Result<(u8, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((script_flags::EVAL_COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let parts = match crate::splitargs::split_args(&body[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid engine in script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut flags = 0;
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&b| b == b',') {
            match script_flags::NAMES
                .iter()
                .find(|(n, _)| n.as_bytes() == name)
            {
                Some((_, f)) => flags |= f,
                None => {
                    return Err(format!(
                        "ERR Unexpected flag in script shebang: {}",
                        String::from_utf8_lossy(name)
                    ));
                }
            }
        }
    }
    Ok((flags, end))
}

/// A FUNCTION LOAD payload's library name and the length of its
/// `#!lua name=<lib>` line, or Redis's error text.
fn library_metadata(code: &[u8]) -> Result<(String, usize), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid library metadata".into());
    };
    let parts = match crate::splitargs::split_args(&code[..end]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("ERR Invalid library metadata".into()),
    };
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "ERR Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(part[5..].to_vec());
            continue;
        }
        return Err(format!(
            "ERR Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let Some(name) = name else {
        return Err("ERR Library name was not given".into());
    };
    if name.is_empty() || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    let engine = &parts[0][2..];
    if !engine.eq_ignore_ascii_case(b"lua") {
        return Err(format!(
            "ERR Engine '{}' not found",
            String::from_utf8_lossy(engine)
        ));
    }
    Ok((String::from_utf8_lossy(&name).into_owned(), end))
}

/// What stops Lua code at its next hook: SCRIPT/FUNCTION KILL (or
/// shutdown), or a FUNCTION LOAD running past its deadline.
#[derive(Default)]
struct Stop {
    kill: AtomicBool,
    load_deadline: parking_lot::Mutex<Option<Instant>>,
}

/// A compiled script or registered function and its flags.
struct Compiled {
    f: mlua::Function,
    flags: u8,
}

/// The SHA1 of `body` as 40 lowercase hex digits.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// The Lua state and compiled scripts.
struct Engine {
    lua: Lua,
    /// The table behind the read-only globals: KEYS and ARGV go here for a
    /// run.
    globals: Table,
    /// The sandbox's host table (`run`, the helpers `sha1`, `log` and
    /// `killed`, the flag `gc_changed`, and `f` during a run); only the
    /// sandbox's closures reach it.
    host: Table,
    /// Every read-only proxy, emptied after each run.
    proxies: Vec<Table>,
    /// sha (or, in the functions' state, function name) → compiled code.
    functions: HashMap<String, Compiled>,
    /// Library name → its functions' names (the functions' state only).
    libraries: HashMap<String, Vec<String>>,
    /// sha → body, in least-recently-used order (front = oldest).
    bodies: VecDeque<(String, Bytes)>,
}

impl Engine {
    /// Undoes what a script may leave behind for the next one: raw writes
    /// into the read-only proxies, a stopped or retuned garbage collector,
    /// and (when `collect`, after running out of memory or being killed)
    /// the garbage of the failed run, so its memory is given back.
    fn after_run(&self, collect: bool) {
        for proxy in &self.proxies {
            if !proxy.is_empty() {
                let _ = proxy.clear();
            }
        }
        // Only when the script asked for it: restarting the collector also
        // starts a new cycle, which every run would pay for.
        if matches!(
            self.host.raw_get::<Value>("gc_changed"),
            Ok(Value::Boolean(true))
        ) {
            let _ = self.host.raw_set("gc_changed", Value::Nil);
            self.lua.gc_restart();
            self.lua.gc_set_mode(GcMode::Incremental(
                GcIncParams::default()
                    .pause(LUA_GC_PAUSE)
                    .step_multiplier(LUA_GC_STEPMUL),
            ));
        }
        if collect {
            // Each full cycle frees the garbage but only halves the string
            // table and stacks a big run grew: repeat while it pays.
            let mut used = self.lua.used_memory();
            for _ in 0..LUA_GC_CYCLES_MAX {
                if self.lua.gc_collect().is_err() {
                    break;
                }
                let now = self.lua.used_memory();
                if now >= used {
                    break;
                }
                used = now;
            }
        }
    }
}

/// Scripting state shared by all clients.
pub struct ScriptState {
    engine: parking_lot::Mutex<Option<Engine>>,
    /// The function libraries' own Lua state (FUNCTION LOAD / FCALL), apart
    /// from the EVAL one as in Redis, so SCRIPT FLUSH leaves the libraries
    /// alone.
    libs: parking_lot::Mutex<Option<Engine>>,
    running: AtomicBool,
    /// Whether the running script is a function (FCALL), for the kill
    /// command's checks.
    running_function: AtomicBool,
    started_ms: AtomicU64,
    stop: Arc<Stop>,
    wrote: AtomicBool,
    /// `busy-reply-threshold` in ms for the script now running.
    threshold_ms: AtomicU64,
    /// `lua-memory-limit` in bytes, applied at each compile and run.
    memory_limit: AtomicU64,
    /// Scripts in the cache (INFO `number_of_cached_scripts`), kept apart
    /// from the engine so INFO run by a script reads it too.
    cached: AtomicU64,
    done: Notify,
    epoch: Instant,
}

impl Default for ScriptState {
    fn default() -> Self {
        ScriptState::new()
    }
}

impl ScriptState {
    /// No engine yet (it is created on first use).
    pub fn new() -> ScriptState {
        ScriptState {
            engine: parking_lot::Mutex::new(None),
            libs: parking_lot::Mutex::new(None),
            running: AtomicBool::new(false),
            running_function: AtomicBool::new(false),
            started_ms: AtomicU64::new(0),
            stop: Arc::new(Stop::default()),
            wrote: AtomicBool::new(false),
            threshold_ms: AtomicU64::new(5000),
            memory_limit: AtomicU64::new(LUA_MEMORY_LIMIT_DEFAULT),
            cached: AtomicU64::new(0),
            done: Notify::new(),
            epoch: Instant::now(),
        }
    }

    /// Sets `lua-memory-limit` (bytes) for the next compile or run.
    pub fn set_memory_limit(&self, bytes: u64) {
        self.memory_limit.store(bytes, Ordering::Relaxed);
    }

    /// `lua-memory-limit` held on `lua` until the returned guard drops.
    fn memory_cap<'a>(&self, lua: &'a Lua) -> MemoryCap<'a> {
        MemoryCap::hold(lua, self.memory_limit.load(Ordering::Relaxed))
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether a script is running now.
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Whether the running script has passed the busy threshold (other
    /// clients then get `-BUSY`).
    pub fn is_busy(&self) -> bool {
        self.is_running()
            && self
                .now_ms()
                .saturating_sub(self.started_ms.load(Ordering::Relaxed))
                >= self.threshold_ms.load(Ordering::Relaxed)
    }

    /// Waits until a script is running past the busy threshold (a command
    /// waiting for the keyspace is then refused with `-BUSY` instead).
    pub async fn wait_busy(&self) {
        loop {
            let done = self.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if self.is_busy() {
                return;
            }
            if !self.is_running() {
                // A script starting or ending notifies `done`.
                done.await;
                continue;
            }
            let left = self.threshold_ms.load(Ordering::Relaxed).saturating_sub(
                self.now_ms()
                    .saturating_sub(self.started_ms.load(Ordering::Relaxed)),
            );
            tokio::select! {
                _ = done => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(left.max(1))) => {}
            }
        }
    }

    /// The `-BUSY` text for the running script: Redis names the kill
    /// command that applies (SCRIPT KILL, or FUNCTION KILL for a function).
    pub fn busy_text(&self) -> &'static str {
        if self.running_function.load(Ordering::Relaxed) {
            BUSY_FUNCTION
        } else {
            BUSY
        }
    }

    /// Marks that the running script wrote (it can then no longer be killed).
    pub fn note_write(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    /// SCRIPT KILL (`is_eval`) or FUNCTION KILL: Ok if a kill was
    /// requested, else the error reply. Each kills only its own kind of
    /// script, as in Redis.
    pub fn request_kill(&self, is_eval: bool) -> Result<(), Reply> {
        if !self.is_running() {
            return Err(Reply::error("NOTBUSY No scripts in execution right now."));
        }
        if self.wrote.load(Ordering::Relaxed) {
            return Err(Reply::error(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            ));
        }
        let function = self.running_function.load(Ordering::Relaxed);
        if is_eval && function {
            return Err(Reply::error(BUSY_FUNCTION));
        }
        if !is_eval && !function {
            return Err(Reply::error(BUSY));
        }
        self.stop.kill.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Stops any running script at its next hook (shutdown).
    pub fn kill_for_shutdown(&self) {
        self.stop.kill.store(true, Ordering::Relaxed);
    }

    /// SCRIPT EXISTS for one sha.
    pub fn exists(&self, sha: &str) -> bool {
        self.engine
            .lock()
            .as_ref()
            .is_some_and(|e| e.functions.contains_key(sha))
    }

    /// The text of cached script `sha` (cluster mode sends it with a
    /// forwarded EVALSHA, so the owner need not have it cached).
    pub fn body(&self, sha: &str) -> Option<Bytes> {
        self.engine
            .lock()
            .as_ref()
            .and_then(|e| e.bodies.iter().find(|(s, _)| s == sha))
            .map(|(_, b)| b.clone())
    }

    /// The flags of cached script `sha` (see [`script_flags`]).
    pub fn script_flags(&self, sha: &str) -> Option<u8> {
        self.engine
            .lock()
            .as_ref()
            .and_then(|e| e.functions.get(sha).map(|c| c.flags))
    }

    /// The flags of function `name`, None if there is no such function.
    pub fn function_flags(&self, name: &[u8]) -> Option<u8> {
        let name = std::str::from_utf8(name).ok()?;
        self.libs
            .lock()
            .as_ref()
            .and_then(|e| e.functions.get(name).map(|c| c.flags))
    }

    /// SCRIPT FLUSH: drops the compiled scripts and, as Redis does, the Lua
    /// state itself (a fresh one is made on next use), so all its memory is
    /// given back.
    pub fn flush(&self) {
        *self.engine.lock() = None;
        self.cached.store(0, Ordering::Relaxed);
    }

    /// Scripts in the cache (INFO `number_of_cached_scripts`).
    pub fn cached_count(&self) -> u64 {
        self.cached.load(Ordering::Relaxed)
    }

    /// FUNCTION FLUSH: drops every library and the functions' Lua state.
    pub fn function_flush(&self) {
        *self.libs.lock() = None;
    }

    /// SCRIPT LOAD / first EVAL: compiles `body` and caches it; returns its
    /// sha, or the error reply (a bad shebang, a compile error).
    pub fn load(&self, body: &[u8]) -> Result<String, Reply> {
        let sha = sha1_hex(body);
        let mut guard = self.engine.lock();
        let engine = match engine(&mut guard, &self.stop) {
            Ok(e) => e,
            Err(e) => return Err(Reply::error(format!("ERR {e}"))),
        };
        if engine.functions.contains_key(&sha) {
            touch_lru(&mut engine.bodies, &sha);
            return Ok(sha);
        }
        let (flags, shebang_len) = shebang_flags(body).map_err(Reply::error)?;
        let compiled = {
            let _cap = self.memory_cap(&engine.lua);
            compile(&engine.lua, &body[shebang_len..], "@user_script")
        };
        let f = match compiled {
            Ok(f) => f,
            Err(e) => {
                if matches!(e, mlua::Error::MemoryError(_)) {
                    engine.after_run(true);
                }
                return Err(Reply::error(format!(
                    "ERR Error compiling script (new function): {}",
                    lua_error_text(&e)
                )));
            }
        };
        engine.functions.insert(sha.clone(), Compiled { f, flags });
        engine
            .bodies
            .push_back((sha.clone(), Bytes::copy_from_slice(body)));
        while engine.bodies.len() > SCRIPT_CACHE_MAX {
            if let Some((old, _)) = engine.bodies.pop_front() {
                engine.functions.remove(&old);
            }
        }
        self.cached
            .store(engine.functions.len() as u64, Ordering::Relaxed);
        Ok(sha)
    }

    /// FUNCTION LOAD [REPLACE]: runs the library `code` (after its
    /// `#!lua name=<lib>` line) so that it registers its functions with
    /// `redis.register_function`, for at most [`FUNCTION_LOAD_TIMEOUT_MS`];
    /// returns the library's name, or Redis's error reply.
    pub fn function_load(&self, code: &[u8], replace: bool) -> Result<String, Reply> {
        let (name, shebang_len) = library_metadata(code).map_err(Reply::error)?;
        let mut guard = self.libs.lock();
        let engine = match engine(&mut guard, &self.stop) {
            Ok(e) => e,
            Err(e) => return Err(Reply::error(format!("ERR {e}"))),
        };
        let exists = engine.libraries.contains_key(&name);
        if exists && !replace {
            return Err(Reply::error(format!("ERR Library '{name}' already exists")));
        }
        if !exists && engine.libraries.len() >= FUNCTION_LIBRARIES_MAX {
            return Err(Reply::error(format!(
                "ERR too many function libraries (at most {FUNCTION_LIBRARIES_MAX})"
            )));
        }
        let registered = {
            let _cap = self.memory_cap(&engine.lua);
            let outcome = self.register_library(engine, &code[shebang_len..]);
            let killed = self.stop.kill.swap(false, Ordering::Relaxed);
            *self.stop.load_deadline.lock() = None;
            if killed {
                let _ = install_hook(&engine.lua, Arc::clone(&self.stop));
                // Only the load deadline stops a body (no kill command
                // reaches a load): whatever the error became on its way out,
                // it is Redis's timeout.
                Err(Reply::error(
                    "ERR Error registering functions: ERR FUNCTION LOAD timeout",
                ))
            } else {
                outcome
            }
        };
        let _ = engine.host.raw_set("registry", Value::Nil);
        let registered = match registered {
            Ok(r) => {
                engine.after_run(false);
                r
            }
            Err(e) => {
                engine.after_run(true);
                return Err(e);
            }
        };
        if registered.is_empty() {
            return Err(Reply::error("ERR No functions registered"));
        }
        let old = engine.libraries.get(&name);
        for (f, _, _) in &registered {
            if engine.functions.contains_key(f) && !old.is_some_and(|o| o.contains(f)) {
                return Err(Reply::error(format!("ERR Function {f} already exists")));
            }
        }
        if engine.functions.len() + registered.len() > FUNCTIONS_MAX + old.map_or(0, Vec::len) {
            return Err(Reply::error(format!(
                "ERR too many functions (at most {FUNCTIONS_MAX})"
            )));
        }
        if let Some(old) = engine.libraries.remove(&name) {
            for f in old {
                engine.functions.remove(&f);
            }
        }
        let mut names = Vec::with_capacity(registered.len());
        for (f, callback, flags) in registered {
            engine
                .functions
                .insert(f.clone(), Compiled { f: callback, flags });
            names.push(f);
        }
        engine.libraries.insert(name.clone(), names);
        Ok(name)
    }

    /// Compiles and runs a library body with `host.registry` set, under the
    /// load deadline; returns what it registered (name, callback, flags).
    #[allow(clippy::type_complexity)]
    fn register_library(
        &self,
        engine: &Engine,
        body: &[u8],
    ) -> Result<Vec<(String, mlua::Function, u8)>, Reply> {
        let lua = &engine.lua;
        let f = compile(lua, body, "@user_function").map_err(|e| {
            Reply::error(format!(
                "ERR Error compiling function: {}",
                lua_error_text(&e)
            ))
        })?;
        let failed =
            |text: String| Reply::error(format!("ERR Error registering functions: {text}"));
        let registry = lua.create_table().map_err(|e| failed(lua_error_text(&e)))?;
        engine
            .host
            .raw_set("registry", &registry)
            .map_err(|e| failed(lua_error_text(&e)))?;
        let run: mlua::Function = engine
            .host
            .raw_get("run")
            .map_err(|e| failed(lua_error_text(&e)))?;
        self.stop.kill.store(false, Ordering::Relaxed);
        *self.stop.load_deadline.lock() =
            Some(Instant::now() + std::time::Duration::from_millis(FUNCTION_LOAD_TIMEOUT_MS));
        // As Redis's handler does, an error that is no error table gets
        // `ERR ` in front.
        match run.call::<(bool, Value, Value, Value)>(f) {
            Err(e) => return Err(failed(format!("ERR {}", lua_error_text(&e)))),
            Ok((false, kind, message, _)) if matches!(&kind, Value::String(k) if k == "reply") => {
                return Err(failed(value_text(&message)));
            }
            Ok((false, _, message, _)) => {
                return Err(failed(format!("ERR {}", value_text(&message))));
            }
            Ok(_) => {}
        }
        let mut out = Vec::new();
        for entry in registry.sequence_values::<Table>() {
            let entry = entry.map_err(|e| failed(lua_error_text(&e)))?;
            let name: mlua::LuaString = entry.raw_get(1).map_err(|e| failed(lua_error_text(&e)))?;
            let callback: mlua::Function =
                entry.raw_get(2).map_err(|e| failed(lua_error_text(&e)))?;
            let flags: u8 = entry.raw_get(3).map_err(|e| failed(lua_error_text(&e)))?;
            out.push((
                String::from_utf8_lossy(&name.as_bytes()).into_owned(),
                callback,
                flags,
            ));
        }
        Ok(out)
    }

    /// Runs the cached script `sha` with `keys` and `argv`. `call` executes a
    /// `redis.call`/`redis.pcall` request and returns its reply. Returns the
    /// script's reply and whether it is an error the error statistics
    /// counted already (a command's error the script passed on). Blocks the
    /// calling thread for the script's duration (the caller uses
    /// `block_in_place`).
    pub fn run(
        &self,
        sha: &str,
        keys: &[Bytes],
        argv: &[Bytes],
        threshold_ms: u64,
        call: &mut dyn FnMut(Vec<Bytes>) -> Reply,
    ) -> (Reply, bool) {
        let mut guard = self.engine.lock();
        let engine = match engine(&mut guard, &self.stop) {
            Ok(e) => e,
            Err(e) => return (Reply::error(format!("ERR {e}")), false),
        };
        let Some(function) = engine.functions.get(sha).map(|c| c.f.clone()) else {
            return (
                Reply::error("NOSCRIPT No matching script. Please use EVAL."),
                false,
            );
        };
        touch_lru(&mut engine.bodies, sha);
        self.run_in(
            engine,
            &function,
            sha,
            false,
            keys,
            argv,
            threshold_ms,
            call,
        )
    }

    /// FCALL: runs function `name` (the caller checked it exists) with
    /// `keys` and `argv` as its two arguments; otherwise as [`Self::run`].
    pub fn fcall(
        &self,
        name: &[u8],
        keys: &[Bytes],
        argv: &[Bytes],
        threshold_ms: u64,
        call: &mut dyn FnMut(Vec<Bytes>) -> Reply,
    ) -> (Reply, bool) {
        let mut guard = self.libs.lock();
        let engine = match engine(&mut guard, &self.stop) {
            Ok(e) => e,
            Err(e) => return (Reply::error(format!("ERR {e}")), false),
        };
        let name = String::from_utf8_lossy(name);
        let Some(function) = engine.functions.get(name.as_ref()).map(|c| c.f.clone()) else {
            return (Reply::error("ERR Function not found"), false);
        };
        self.run_in(
            engine,
            &function,
            &name,
            true,
            keys,
            argv,
            threshold_ms,
            call,
        )
    }

    /// Runs `function` of `engine` as the running script; `label` names it
    /// in errors (the sha, or the function's name).
    #[allow(clippy::too_many_arguments)]
    fn run_in(
        &self,
        engine: &Engine,
        function: &mlua::Function,
        label: &str,
        is_function: bool,
        keys: &[Bytes],
        argv: &[Bytes],
        threshold_ms: u64,
        call: &mut dyn FnMut(Vec<Bytes>) -> Reply,
    ) -> (Reply, bool) {
        self.threshold_ms.store(threshold_ms, Ordering::Relaxed);
        self.started_ms.store(self.now_ms(), Ordering::Relaxed);
        self.stop.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.running_function.store(is_function, Ordering::Relaxed);
        self.running.store(true, Ordering::Release);
        self.done.notify_waiters();
        let limit = self.memory_limit.load(Ordering::Relaxed);
        let result = execute(engine, function, is_function, keys, argv, limit, call);
        self.running.store(false, Ordering::Release);
        self.done.notify_waiters();
        let killed = self.stop.kill.swap(false, Ordering::Relaxed);
        if killed {
            // The kill switched the hook to every line; back to the count.
            // Should that fail, the line hook stays: slower, still correct.
            let _ = install_hook(&engine.lua, Arc::clone(&self.stop));
        }
        engine.after_run(killed || matches!(result, Err(ScriptError::Fatal(_))));
        let source = if is_function {
            "user_function"
        } else {
            "user_script"
        };
        match result {
            Ok(outcome) => outcome,
            Err(_) if killed => (
                Reply::error(format!("{KILLED} script: {label}, on @{source}:1.")),
                false,
            ),
            Err(ScriptError::Lua(text)) => (
                Reply::error(format_runtime_error(&text, label, source)),
                false,
            ),
            Err(ScriptError::Reply(text, line, counted)) => (
                Reply::error(format!("{text} script: {label}, on @{source}:{line}.")),
                counted,
            ),
            Err(ScriptError::Fatal(text)) => {
                // Redis's `"Error running script %s, %.100s"` for an error
                // that is no Lua runtime error (out of memory).
                let text: String = text.chars().take(100).collect();
                (
                    Reply::error(format!("ERR Error running script {label}, {text}")),
                    false,
                )
            }
        }
    }
}

/// Holds a memory limit on a Lua state while Lua code runs (a script, or
/// the compiler), and lifts it when dropped. mlua makes every operation on a
/// limited state a protected call, allocating a C closure each time, which
/// made a small EVAL about three times slower; outside Lua code the engine only
/// converts request data (bounded by the request limits) and reads values,
/// so nothing is lost by lifting it there.
struct MemoryCap<'a>(&'a Lua);

impl<'a> MemoryCap<'a> {
    fn hold(lua: &'a Lua, limit: u64) -> MemoryCap<'a> {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        let _ = lua.set_memory_limit(limit);
        MemoryCap(lua)
    }
}

impl Drop for MemoryCap<'_> {
    fn drop(&mut self) {
        let _ = self.0.set_memory_limit(0);
    }
}

/// Moves `sha` to the most-recently-used end.
fn touch_lru(bodies: &mut VecDeque<(String, Bytes)>, sha: &str) {
    if let Some(item) = bodies
        .iter()
        .position(|(s, _)| s == sha)
        .and_then(|pos| bodies.remove(pos))
    {
        bodies.push_back(item);
    }
}

/// Compiles a script body, always as Lua source: a precompiled binary chunk
/// would run unchecked bytecode in the C interpreter (a mutated one crashes
/// the process). A body that starts with the binary-chunk mark is parsed as
/// text all the same (one space put in front only steers Lua away from its
/// binary loader; such a body is no valid source either way), so the lexer
/// refuses it with Redis's exact error.
fn compile(lua: &Lua, body: &[u8], name: &str) -> mlua::Result<mlua::Function> {
    let chunk = if body.first() == Some(&BINARY_CHUNK_MARK) {
        let mut text = Vec::with_capacity(body.len() + 1);
        text.push(b' ');
        text.extend_from_slice(body);
        lua.load(text)
    } else {
        lua.load(body)
    };
    chunk
        .set_name(name)
        .set_mode(ChunkMode::Text)
        .into_function()
}

/// A Lua error's message without mlua's decorations.
fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}

/// A Lua value as error text.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        other => format!("{other:?}"),
    }
}

/// Redis's text for a script that failed with a Lua runtime error:
/// `ERR user_script:1: <message> script: <sha>, on @user_script:1.`
/// (`source` is `user_script`, or `user_function` for a function).
fn format_runtime_error(text: &str, label: &str, source: &str) -> String {
    let line = text
        .strip_prefix(source)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1);
    format!("ERR {text} script: {label}, on @{source}:{line}.")
}

/// How a script failed.
enum ScriptError {
    /// A Lua runtime error (its message).
    Lua(String),
    /// An error reply raised by `redis.call` or returned as `{err=...}`
    /// from the top level, the script line that raised it (1 when it
    /// was returned), and whether the error statistics counted it already
    /// (the error of a command the script ran).
    Reply(String, u32, bool),
    /// An error that is no runtime error, so no Lua handler saw it: Lua
    /// ran out of memory.
    Fatal(String),
}

/// Creates the engine on first use.
fn engine<'a>(slot: &'a mut Option<Engine>, stop: &Arc<Stop>) -> mlua::Result<&'a mut Engine> {
    if slot.is_none() {
        *slot = Some(new_engine(stop)?);
    }
    match slot.as_mut() {
        Some(e) => Ok(e),
        None => Err(mlua::Error::RuntimeError("no Lua engine".into())),
    }
}

/// The sandbox, run once per Lua state before any script, with the pattern
/// bound as its argument. It builds the `redis` table and the host table,
/// wraps the functions that load chunks, match patterns, bypass metamethods,
/// run error handlers or retune the collector, then moves every allowed global into a hidden table and
/// leaves the real globals table (the environment of every script, every
/// function it makes and every chunk it loads) an empty read-only proxy.
/// Everything the scripts reach afterwards is reached through proxies; the
/// wrappers keep what they use in upvalues. It returns the host table, the
/// hidden globals table and the list of proxies.
const SANDBOX: &str = r#"
local max_pattern_items = ...
local G = _G
local type, error, tostring, ipairs = type, error, tostring, ipairs
local next, pairs, rawget, rawset = next, pairs, rawget, rawset
local setmetatable, getmetatable = setmetatable, getmetatable
local loadstring, load, xpcall = loadstring, load, xpcall
local collectgarbage = collectgarbage
local byte, find, sub, lower = string.byte, string.find, string.sub, string.lower
local match = string.match
local select, tonumber, concat = select, tonumber, table.concat
local READONLY = "Attempt to modify a readonly table"

local host = {}
local redis = {}
-- host.f runs a command with the protocol redis.setresp chose; it answers
-- whether the command succeeded and its reply, with a status or error reply
-- as a string to wrap here (1: {ok = s}, 2: {err = s}), which saves the host
-- building tables under the memory limit's protected calls.
-- (3: {err = s} for an error the server has counted in its error
-- statistics already, marked so the script's reply does not count it again).
-- The arguments reach it as their count and a table: as separate values the
-- host would hold a reference to each at once, and a call with as many
-- arguments as `unpack` gives (7,999, which Redis accepts) would exhaust
-- mlua's reference stack.
redis.call = function(...)
  local ok, v, wrap = host.f(host.resp, select('#', ...), {...})
  if wrap == 1 then v = {ok = v} elseif wrap == 2 then v = {err = v}
  elseif wrap == 3 then v = {err = v, ignore_error_stats_update = true} end
  if ok then return v end
  error(v, 0)
end
redis.pcall = function(...)
  local ok, v, wrap = host.f(host.resp, select('#', ...), {...})
  if wrap == 1 then v = {ok = v} elseif wrap == 2 then v = {err = v}
  elseif wrap == 3 then v = {err = v, ignore_error_stats_update = true} end
  return v
end
redis.status_reply = function(s) return {ok = s} end
redis.error_reply = function(s)
  if sub(s, 1, 1) ~= '-' then s = '-' .. s end
  if not find(s, ' ', 1, true) then return {err = 'ERR ' .. sub(s, 2)} end
  return {err = sub(s, 2)}
end
redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then error({err = "ERR wrong number of arguments"}, 0) end
  local s = ...
  if type(s) ~= 'string' and type(s) ~= 'number' then s = '' end
  return host.sha1(tostring(s))
end
-- Redis's checks and texts; the message is the string and number arguments
-- joined with spaces (others are left out), handed to the host as one string.
redis.log = function(...)
  local n = select('#', ...)
  if n < 2 then error({err = 'ERR redis.log() requires two arguments or more.'}, 0) end
  local args = {...}
  local level = tonumber(args[1])
  if level == nil then error({err = 'ERR First argument must be a number (log level).'}, 0) end
  -- Redis keeps the level as a C int (truncated toward zero).
  if not (level > -1 and level < 4) then error({err = 'ERR Invalid debug level.'}, 0) end
  local parts = {}
  for i = 2, n do
    local a = args[i]
    if type(a) == 'string' or type(a) == 'number' then parts[#parts + 1] = a end
  end
  return host.log(level < 0 and 0 or level - level % 1, concat(parts, ' '))
end
redis.setresp = function(v)
  if v ~= 2 and v ~= 3 then error("RESP version must be 2 or 3.", 0) end
  host.resp = v
end
-- FUNCTION LOAD sets host.registry while a library's body runs; each
-- registration is checked with Redis's texts and added to it as
-- {name, callback, flags}.
local FLAGS = {
  ['no-writes'] = 1, ['allow-oom'] = 2, ['allow-stale'] = 4,
  ['no-cluster'] = 8, ['allow-cross-slot-keys'] = 16,
}
local function register_flags(t)
  local bits = 0
  for _, name in next, t do
    local bit = type(name) == 'string' and FLAGS[name]
    if not bit then error("unknown flag given", 0) end
    if bits % (2 * bit) < bit then bits = bits + bit end
  end
  return bits
end
redis.register_function = function(...)
  local reg = host.registry
  if reg == nil then
    error("redis.register_function can only be called on FUNCTION LOAD command", 0)
  end
  local n = select('#', ...)
  local name, callback, flags = nil, nil, 0
  if n == 1 then
    local t = ...
    if type(t) ~= 'table' then
      error("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).", 0)
    end
    for k, v in next, t do
      if type(k) ~= 'string' then
        error("named argument key given to redis.register_function is not a string", 0)
      end
      local key = lower(k)
      if key == 'function_name' then
        if type(v) ~= 'string' then
          error("function_name argument given to redis.register_function must be a string", 0)
        end
        name = v
      elseif key == 'description' then
        if type(v) ~= 'string' then
          error("description argument given to redis.register_function must be a string", 0)
        end
      elseif key == 'callback' then
        if type(v) ~= 'function' then
          error("callback argument given to redis.register_function must be a function", 0)
        end
        callback = v
      elseif key == 'flags' then
        if type(v) ~= 'table' then
          error("flags argument to redis.register_function must be a table representing function flags", 0)
        end
        flags = register_flags(v)
      else
        error("unknown argument given to redis.register_function", 0)
      end
    end
    if name == nil then error("redis.register_function must get a function name argument", 0) end
    if callback == nil then error("redis.register_function must get a callback argument", 0) end
  elseif n == 2 then
    name, callback = ...
    if type(name) ~= 'string' then
      error("first argument to redis.register_function must be a string", 0)
    end
    if type(callback) ~= 'function' then
      error("second argument to redis.register_function must be a function", 0)
    end
  else
    error("wrong number of arguments to redis.register_function", 0)
  end
  if not find(name, '^[%w_]+$') then
    error("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long", 0)
  end
  for i = 1, #reg do
    if reg[i][1] == name then error("Function already exists in the library", 0) end
  end
  reg[#reg + 1] = {name, callback, flags}
end
redis.set_repl = function() end
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function() end
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
redis.REPL_NONE = 0
redis.REPL_AOF = 1
redis.REPL_SLAVE = 2
redis.REPL_REPLICA = 2
redis.REPL_ALL = 3

-- Runs one script. A runtime error reaches on_error, which keeps it and
-- the line of the script's code that raised it (the first frame, going up
-- from the error, that belongs to the script: what Redis's error handler
-- reports), and returns a marker; an error that bypasses handlers (out of
-- memory) comes back as itself. Results: true, value | false, kind,
-- message, line, counted (an error table marked as counted already). (In `pcall(error, '', n)`, level 1 is pcall, 2 on_error,
-- 3 the function that raised.)
local caught, caught_line
local marker = {}
local function on_error(e)
  caught = e
  caught_line = nil
  for level = 3, 8 do
    local _, where = pcall(error, '', level)
    local line = type(where) == 'string' and
      (match(where, '^user_script:(%d+):') or match(where, '^user_function:(%d+):'))
    if line then
      caught_line = line
      break
    end
  end
  return marker
end
host.run = function(f, keys, argv)
  host.resp = 2
  caught = nil
  local ok, v
  if keys then
    ok, v = xpcall(function() return f(keys, argv) end, on_error)
  else
    ok, v = xpcall(f, on_error)
  end
  if ok then return true, v end
  if v ~= marker then return false, 'fatal', tostring(v) end
  v, caught = caught, nil
  if type(v) == 'table' and type(rawget(v, 'err')) == 'string' then
    return false, 'reply', rawget(v, 'err'), caught_line,
      rawget(v, 'ignore_error_stats_update') == true
  end
  return false, 'lua', tostring(v), caught_line
end

-- Read-only proxies: `real` maps each to the table it shows, `shown` to
-- what getmetatable returns for it.
local real, shown, proxies = {}, {}, {}
local function deny() error(READONLY, 2) end
local function readonly(t, mt)
  local p = setmetatable({}, {__index = t, __newindex = deny, __metatable = false})
  real[p] = t
  shown[p] = mt
  proxies[#proxies + 1] = p
  return p
end

-- Lua 5.1 matches by recursing once per quantified item or capture; only a
-- pattern longer than the bound can pass it, so short ones are not scanned.
local function too_complex(p)
  if type(p) ~= 'string' or #p <= max_pattern_items then return false end
  local n, at = 0, 1
  while true do
    at = find(p, '[%?%*%+%-%(%)]', at)
    if not at then return false end
    n = n + 1
    if n > max_pattern_items then return true end
    at = at + 1
  end
end
do
  local find, match, gmatch, gsub = string.find, string.match, string.gmatch, string.gsub
  string.find = function(...)
    local _, p, _, plain = ...
    if not plain and too_complex(p) then error("pattern too complex", 2) end
    return find(...)
  end
  string.match = function(...)
    local _, p = ...
    if too_complex(p) then error("pattern too complex", 2) end
    return match(...)
  end
  string.gmatch = function(...)
    local _, p = ...
    if too_complex(p) then error("pattern too complex", 2) end
    return gmatch(...)
  end
  string.gsub = function(...)
    local _, p = ...
    if too_complex(p) then error("pattern too complex", 2) end
    return gsub(...)
  end
end

-- The globals scripts see: Redis 7's allow list.
local H = {}
for _, name in ipairs({
  'xpcall', 'tostring', 'setmetatable', 'next', 'assert', 'tonumber',
  'rawequal', 'collectgarbage', 'getmetatable', 'rawset', 'pcall', 'type',
  'select', 'unpack', 'gcinfo', 'pairs', 'rawget', 'loadstring', 'ipairs',
  '_VERSION', 'load', 'error',
}) do
  H[name] = G[name]
end
H.rawset = function(t, ...)
  if real[t] then error(READONLY, 0) end
  return rawset(t, ...)
end
H.setmetatable = function(t, ...)
  if real[t] then error(READONLY, 0) end
  return setmetatable(t, ...)
end
-- An error raised by the kill hook leaves hooks off until a protected call
-- catches it, so an xpcall handler would run unstoppable: once a kill is
-- requested, handlers are skipped.
H.xpcall = function(f, handler, ...)
  if type(handler) ~= 'function' then return xpcall(f, handler, ...) end
  return xpcall(f, function(e)
    if host.killed() then return e end
    return handler(e)
  end, ...)
end
-- The host restores a collector a script stopped or retuned.
H.collectgarbage = function(opt, ...)
  if opt == 'stop' or opt == 'setpause' or opt == 'setstepmul' then host.gc_changed = true end
  return collectgarbage(opt, ...)
end
H.rawget = function(t, ...) return rawget(real[t] or t, ...) end
local function next_(t, ...) return next(real[t] or t, ...) end
H.next = next_
H.pairs = function(t, ...)
  if real[t] then return next_, t, nil end
  return pairs(t, ...)
end
H.getmetatable = function(...)
  local t = ...
  if real[t] then return shown[t] end
  return getmetatable(...)
end
-- Chunks are source only: a binary chunk is parsed as text (a space in front
-- steers Lua away from its binary loader) and fails as it does in Redis.
H.loadstring = function(s, ...)
  if type(s) == 'string' and byte(s, 1) == 27 then
    local name = ...
    if name == nil then name = s end
    return loadstring(' ' .. s, name)
  end
  return loadstring(s, ...)
end
H.load = function(f, ...)
  if type(f) ~= 'function' then return load(f, ...) end
  local first = true
  return load(function()
    local piece = f()
    if first then
      first = false
      if type(piece) == 'string' and byte(piece, 1) == 27 then return ' ' .. piece end
    end
    return piece
  end, ...)
end
H.string = readonly(string)
H.math = readonly(math)
H.table = readonly(table)
H.coroutine = readonly(coroutine)
H.redis = readonly(redis)
-- The bundled libraries' Rust functions return a status first; their errors
-- become plain error strings with the calling script's position, as C raises
-- them (the wrapper tail-calls `raise`, and Lua 5.1 counts the tail call as a
-- level, so level 3 is the wrapper's caller). Errors Lua itself raises in
-- the C libraries come flagged and carry no position.
local function raise(ok, ...)
  if not ok then
    local msg, bare = ...
    error(msg, bare and 0 or 3)
  end
  return ...
end
local function library(raw)
  local t = {}
  for k, v in next, raw do
    if type(v) == 'function' then
      t[k] = function(...) return raise(v(...)) end
    else
      t[k] = v
    end
  end
  return readonly(t)
end
-- lua-cmsgpack first makes room on Lua's C stack for as many values again
-- as it was given, which fails past half of its 8,000 values.
do
  local pack = cmsgpack.pack
  cmsgpack.pack = function(...)
    if select('#', ...) > 4000 then
      return false, "bad argument #0 to 'pack' (Too many arguments for MessagePack pack.)"
    end
    return pack(...)
  end
end
H.cjson = library(cjson)
H.bit = library(bit)
H.cmsgpack = library(cmsgpack)
-- struct.unpack's host function returns its values in a table (it may
-- give more than a host function can return).
do
  local raw, unpack = struct.unpack, unpack
  struct.unpack = function(...)
    local ok, t, bare = raw(...)
    if not ok then return ok, t, bare end
    return true, unpack(t)
  end
end
H.struct = library(struct)
getmetatable('').__metatable = readonly({__index = H.string})

local function missing(_, name)
  error("Script attempted to access nonexistent global variable '" .. tostring(name) .. "'", 2)
end
setmetatable(H, {__index = missing})
H._G = G
for name in next, G do G[name] = nil end
setmetatable(G, {__index = H, __newindex = deny, __metatable = false})
real[G] = H
shown[G] = readonly({__index = missing})
proxies[#proxies + 1] = G
return host, H, proxies
"#;

/// A Lua state with Redis's sandbox; `kill` is the SCRIPT KILL flag.
fn new_engine(stop: &Arc<Stop>) -> mlua::Result<Engine> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    crate::lualibs::install(&lua)?;
    let (host, globals, proxies): (Table, Table, Table) = lua
        .load(SANDBOX)
        .set_name("=sandbox")
        .set_mode(ChunkMode::Text)
        .call(LUA_PATTERN_MAX_ITEMS)?;
    host.raw_set(
        "sha1",
        lua.create_function(|lua, s: mlua::LuaString| lua.create_string(sha1_hex(&s.as_bytes())))?,
    )?;
    host.raw_set(
        "log",
        lua.create_function(|_, (level, msg): (i64, mlua::LuaString)| {
            let text = String::from_utf8_lossy(&msg.as_bytes()).into_owned();
            match level {
                0 => tracing::debug!("script: {text}"),
                1 | 2 => tracing::info!("script: {text}"),
                _ => tracing::warn!("script: {text}"),
            }
            Ok(())
        })?,
    )?;
    let flag = Arc::clone(stop);
    host.raw_set(
        "killed",
        lua.create_function(move |_, ()| Ok(flag.kill.load(Ordering::Relaxed)))?,
    )?;
    install_hook(&lua, Arc::clone(stop))?;
    let proxies = proxies
        .sequence_values::<Table>()
        .collect::<mlua::Result<Vec<_>>>()?;
    Ok(Engine {
        lua,
        globals,
        host,
        proxies,
        functions: HashMap::new(),
        libraries: HashMap::new(),
        bodies: VecDeque::new(),
    })
}

/// Installs the kill hook: every [`HOOK_INSTRUCTIONS`] instructions, on
/// every Lua thread (coroutines inherit it, which a per-thread hook would
/// not give them).
fn install_hook(lua: &Lua, stop: Arc<Stop>) -> mlua::Result<()> {
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
        move |lua, debug| on_hook(lua, debug, &stop),
    )
}

/// The hook: nothing until SCRIPT KILL. Then it raises Redis's killed error
/// and switches the Lua thread it runs on to stop at every line, as Redis
/// does, so a script that catches the error (`pcall`, a coroutine resume, a
/// `load` reader) meets it again at its next line outside the catching call,
/// until the script has ended.
fn on_hook(lua: &Lua, debug: &Debug, stop: &Arc<Stop>) -> mlua::Result<VmState> {
    let loading = *stop.load_deadline.lock();
    if !stop.kill.load(Ordering::Relaxed) {
        // A library body past its deadline is stopped as a kill is.
        match loading {
            Some(deadline) if Instant::now() >= deadline => {
                stop.kill.store(true, Ordering::Relaxed);
            }
            _ => return Ok(VmState::Continue),
        }
    }
    if debug.event() == DebugEvent::Count {
        let stop = Arc::clone(stop);
        lua.set_global_hook(HookTriggers::EVERY_LINE, move |lua, debug| {
            on_hook(lua, debug, &stop)
        })?;
    }
    Err(mlua::Error::RuntimeError(if loading.is_some() {
        "FUNCTION LOAD timeout".into()
    } else {
        "Script killed by user with SCRIPT KILL...".into()
    }))
}

/// Removes a run's KEYS, ARGV and host function when dropped, so that no
/// way out of [`execute`] (error, kill, early return) leaves them installed.
struct RunCleanup<'a> {
    globals: &'a Table,
    host: &'a Table,
}

impl Drop for RunCleanup<'_> {
    fn drop(&mut self) {
        let _ = self.globals.raw_set("KEYS", Value::Nil);
        let _ = self.globals.raw_set("ARGV", Value::Nil);
        let _ = self.host.raw_set("f", Value::Nil);
    }
}

/// A failure of the engine itself (not of the script's Lua code).
fn engine_error(e: mlua::Error) -> ScriptError {
    match e {
        mlua::Error::MemoryError(m) => ScriptError::Fatal(m),
        other => ScriptError::Lua(lua_error_text(&other)),
    }
}

/// Runs `function` with KEYS/ARGV set, `redis.call` routed to `call`, and
/// the Lua heap capped at `limit` bytes while it runs.
fn execute(
    engine: &Engine,
    function: &mlua::Function,
    is_function: bool,
    keys: &[Bytes],
    argv: &[Bytes],
    limit: u64,
    call: &mut dyn FnMut(Vec<Bytes>) -> Reply,
) -> Result<(Reply, bool), ScriptError> {
    let lua = &engine.lua;
    let host = &engine.host;
    let _cleanup = RunCleanup {
        globals: &engine.globals,
        host,
    };
    let to_table = |items: &[Bytes]| -> mlua::Result<Table> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(item)?)?;
        }
        Ok(t)
    };
    let keys = to_table(keys).map_err(engine_error)?;
    let argv = to_table(argv).map_err(engine_error)?;
    // A function gets them as its two arguments, a script as globals.
    let args = if is_function {
        (Value::Table(keys), Value::Table(argv))
    } else {
        engine.globals.raw_set("KEYS", keys).map_err(engine_error)?;
        engine.globals.raw_set("ARGV", argv).map_err(engine_error)?;
        (Value::Nil, Value::Nil)
    };
    let outcome = lua.scope(|scope| {
        let f = scope.create_function_mut(|lua, (resp, n, args): (i64, usize, Table)| {
            let resp3 = resp == 3;
            // A command's error was counted when the command ran; a
            // refusal of the arguments here never reached the server.
            let (reply, counted) = match command_args(&args, n) {
                Ok(words) => (call(words), true),
                Err(e) => (Reply::error(e), false),
            };
            Ok(match &reply {
                Reply::Status(s) => (true, Value::String(lua.create_string(s)?), 1),
                Reply::Error(e) => {
                    let wrap = if counted { 3 } else { 2 };
                    (false, Value::String(lua.create_string(e)?), wrap)
                }
                other => (true, reply_to_lua(lua, other, resp3, 0)?, 0),
            })
        })?;
        host.raw_set("f", f)?;
        let run: mlua::Function = host.raw_get("run")?;
        let _cap = MemoryCap::hold(lua, limit);
        run.call::<(bool, Value, Value, Value, bool)>((function.clone(), args.0, args.1))
    });
    let resp3 = matches!(host.raw_get::<Value>("resp"), Ok(Value::Integer(3)));
    match outcome {
        Err(e) => Err(engine_error(e)),
        Ok((true, v, _, _, _)) => {
            let reply = lua_to_reply(&v, resp3, 0);
            let counted = reply.is_error()
                && matches!(&v, Value::Table(t)
                    if matches!(t.raw_get::<Value>("ignore_error_stats_update"), Ok(Value::Boolean(true))));
            Ok((reply, counted))
        }
        Ok((false, kind, message, line, counted)) => {
            let text = value_text(&message);
            let line = match line {
                Value::String(s) => s.to_str().ok().and_then(|l| l.parse().ok()),
                _ => None,
            };
            Err(match kind {
                Value::String(k) if k == "reply" => {
                    ScriptError::Reply(text, line.unwrap_or(1), counted)
                }
                Value::String(k) if k == "fatal" => ScriptError::Fatal(text),
                _ => ScriptError::Lua(text),
            })
        }
    }
}

/// Converts the `n` `redis.call` arguments (strings or numbers) in `args`
/// to command words, one Lua value at a time.
fn command_args(args: &Table, n: usize) -> Result<Vec<Bytes>, String> {
    if n == 0 {
        return Err("ERR Please specify at least one argument for this redis lib call".into());
    }
    let mut words = Vec::with_capacity(n);
    for i in 1..=n {
        let a = args.raw_get::<Value>(i).unwrap_or(Value::Nil);
        words.push(command_word(&a)?);
    }
    Ok(words)
}

/// One `redis.call` argument as a command word.
fn command_word(a: &Value) -> Result<Bytes, String> {
    match a {
        Value::String(s) => Ok(Bytes::copy_from_slice(&s.as_bytes())),
        // Redis formats numbers with `%.17g`, not Lua's `%.14g`, to keep
        // their precision (Lua 5.1 numbers are doubles, integers included).
        Value::Integer(i) => Ok(Bytes::from(crate::lualibs::format_g(*i as f64, 17))),
        Value::Number(n) => Ok(Bytes::from(crate::lualibs::format_g(*n, 17))),
        _ => Err("ERR Lua redis lib command arguments must be strings or integers".into()),
    }
}

/// A reply as Redis hands it to Lua: RESP2 rules, or RESP3 rules after
/// `redis.setresp(3)` (null stays nil; maps, sets, doubles and booleans keep
/// their type). `depth` is the reply's nesting level; past
/// [`LUA_REPLY_MAX_DEPTH`] the conversion fails instead of recursing on.
fn reply_to_lua(lua: &Lua, reply: &Reply, resp3: bool, depth: usize) -> mlua::Result<Value> {
    if depth >= LUA_REPLY_MAX_DEPTH {
        return Err(mlua::Error::RuntimeError(
            "reached lua stack limit".to_string(),
        ));
    }
    let inner = |r: &Reply| reply_to_lua(lua, r, resp3, depth + 1);
    let wrap = |field: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(field, v)?;
        Ok(Value::Table(t))
    };
    Ok(match reply {
        Reply::Int(i) => Value::Integer(*i),
        Reply::Bool(b) if resp3 => Value::Boolean(*b),
        Reply::Bool(b) => Value::Integer(i64::from(*b)),
        Reply::Bulk(b) | Reply::Verbatim(b) => Value::String(lua.create_string(b)?),
        Reply::Double(d) if resp3 => wrap("double", Value::Number(*d))?,
        Reply::Double(d) => Value::String(lua.create_string(d.to_string())?),
        Reply::Nil | Reply::NilArray | Reply::Sent | Reply::Frames(_) if resp3 => Value::Nil,
        Reply::Nil | Reply::NilArray | Reply::Sent | Reply::Frames(_) => Value::Boolean(false),
        Reply::Map(pairs) if resp3 => {
            let t = lua.create_table()?;
            for (k, v) in pairs {
                t.raw_set(inner(k)?, inner(v)?)?;
            }
            wrap("map", Value::Table(t))?
        }
        Reply::Set(items) if resp3 => {
            let t = lua.create_table()?;
            for item in items {
                t.raw_set(inner(item)?, true)?;
            }
            wrap("set", Value::Table(t))?
        }
        Reply::Status(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(s)?)?;
            Value::Table(t)
        }
        Reply::Error(e) => {
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(e)?)?;
            Value::Table(t)
        }
        Reply::Array(items) | Reply::Set(items) | Reply::Push(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, inner(item)?)?;
            }
            Value::Table(t)
        }
        Reply::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, inner(k)?)?;
                t.raw_set(2 * i + 2, inner(v)?)?;
            }
            Value::Table(t)
        }
    })
}

/// A script's return value as a reply (Redis's Lua → RESP rules; after
/// `redis.setresp(3)` booleans stay booleans). `depth` is the value's
/// nesting level: at [`LUA_REPLY_MAX_DEPTH`] the value is replaced by
/// Redis's `reached lua stack limit` error, which also ends a table that
/// contains itself. That bound is what keeps the recursive encoding of the
/// resulting reply (`src/protocol/reply.rs`) bounded as well.
fn lua_to_reply(v: &Value, resp3: bool, depth: usize) -> Reply {
    if depth >= LUA_REPLY_MAX_DEPTH {
        return Reply::error(STACK_LIMIT);
    }
    match v {
        Value::Nil => Reply::Nil,
        Value::Boolean(b) if resp3 => Reply::Bool(*b),
        Value::Boolean(true) => Reply::Int(1),
        Value::Boolean(false) => Reply::Nil,
        Value::Integer(i) => Reply::Int(*i),
        Value::Number(n) => Reply::Int(n.trunc() as i64),
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => table_to_reply(t, resp3, depth),
        _ => Reply::Nil,
    }
}

/// [`lua_to_reply`] for a table: an error or status table, a RESP3 map,
/// set or double, else an array up to the first nil. Plain loops keep each
/// level's stack frame small.
fn table_to_reply(t: &Table, resp3: bool, depth: usize) -> Reply {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        return Reply::error_bytes(e.as_bytes().to_vec());
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        return Reply::Status(Bytes::copy_from_slice(&s.as_bytes()));
    }
    if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
        let mut pairs = Vec::new();
        for (k, v) in m.pairs::<Value, Value>().flatten() {
            pairs.push((
                lua_to_reply(&k, resp3, depth + 1),
                lua_to_reply(&v, resp3, depth + 1),
            ));
        }
        return Reply::Map(pairs);
    }
    if let Ok(Value::Table(set)) = t.raw_get::<Value>("set") {
        let mut items = Vec::new();
        for (k, _) in set.pairs::<Value, Value>().flatten() {
            items.push(lua_to_reply(&k, resp3, depth + 1));
        }
        return Reply::Set(items);
    }
    match t.raw_get::<Value>("double") {
        Ok(Value::Number(d)) => return Reply::Double(d),
        Ok(Value::Integer(i)) => return Reply::Double(i as f64),
        _ => {}
    }
    let mut items = Vec::new();
    let mut i = 1;
    while let Ok(item) = t.raw_get::<Value>(i) {
        if item.is_nil() {
            break;
        }
        items.push(lua_to_reply(&item, resp3, depth + 1));
        i += 1;
    }
    Reply::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `depth` arrays, each holding the next, around an empty one.
    fn nested(depth: usize) -> Reply {
        let mut reply = Reply::Array(Vec::new());
        for _ in 0..depth {
            reply = Reply::Array(vec![reply]);
        }
        reply
    }

    #[test]
    fn replies_handed_to_lua_are_bounded_in_depth() {
        let lua = Lua::new();
        for resp3 in [false, true] {
            assert!(reply_to_lua(&lua, &nested(LUA_REPLY_MAX_DEPTH - 1), resp3, 0).is_ok());
            let err = reply_to_lua(&lua, &nested(LUA_REPLY_MAX_DEPTH), resp3, 0);
            assert!(
                matches!(&err, Err(e) if lua_error_text(e) == "reached lua stack limit"),
                "{err:?}"
            );
        }
    }

    /// Whether `engine` still holds anything of a finished run.
    fn leftovers(state: &ScriptState) -> Vec<&'static str> {
        let guard = state.engine.lock();
        let Some(engine) = guard.as_ref() else {
            return vec!["no engine"];
        };
        let mut left = Vec::new();
        for (table, key) in [
            (&engine.globals, "KEYS"),
            (&engine.globals, "ARGV"),
            (&engine.host, "f"),
        ] {
            if !matches!(table.raw_get::<Value>(key), Ok(Value::Nil)) {
                left.push(key);
            }
        }
        left
    }

    #[test]
    fn no_run_leaves_its_globals_or_host_function_behind() {
        let state = Arc::new(ScriptState::new());
        let keys = [Bytes::from_static(b"k")];
        let argv = [Bytes::from_static(b"a")];
        let mut call = |_: Vec<Bytes>| Reply::error("ERR no");
        for (body, starts) in [
            ("return KEYS[1] .. ARGV[1]", "$2"),
            ("error('boom')", "-ERR user_script:1: boom"),
            ("return redis.call('x')", "-ERR no"),
            ("return string.rep('x', 1e9)", "-ERR Error running script"),
        ] {
            state.set_memory_limit(LUA_MEMORY_LIMIT_MIN * 8);
            let sha = state.load(body.as_bytes()).unwrap_or_default();
            let (reply, _) = state.run(&sha, &keys, &argv, 5000, &mut call);
            let text = String::from_utf8_lossy(&reply.to_bytes(crate::protocol::Protocol::Resp2))
                .into_owned();
            assert!(text.starts_with(starts), "{body}: {text}");
            assert!(
                leftovers(&state).is_empty(),
                "{body}: {:?}",
                leftovers(&state)
            );
        }
        // A killed run.
        let sha = state.load(b"while true do end").unwrap_or_default();
        let killer = {
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    if state.request_kill(true).is_ok() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            })
        };
        let (reply, _) = state.run(&sha, &keys, &argv, 5000, &mut call);
        let _ = killer.join();
        assert!(
            matches!(&reply, Reply::Error(e) if e.starts_with(KILLED.as_bytes())),
            "{reply:?}"
        );
        assert!(leftovers(&state).is_empty(), "{:?}", leftovers(&state));
    }
}
