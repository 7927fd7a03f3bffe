//! Lua scripting: EVAL, EVALSHA, SCRIPT, on an embedded Lua 5.1 (mlua with
//! vendored Lua, the version Redis embeds).
//!
//! One Lua state serves every script, as in Redis. Scripts run with the
//! keyspace lock held, so they are atomic with respect to every other client;
//! other clients' commands wait for the script (see [`ScriptState`]), and once
//! it has run longer than `busy-reply-threshold` they get `-BUSY` instead,
//! until it ends or SCRIPT KILL stops it (from a Lua hook that checks every
//! [`HOOK_INSTRUCTIONS`] instructions).
//!
//! The sandbox loads only the base, table, string and math libraries, removes
//! `loadfile` and `dofile`, and makes `_G` refuse new globals. `redis.call`
//! and `redis.pcall` are thin Lua wrappers around one host function set per
//! script run, so that a failed `redis.call` raises Redis's error table
//! (`{err=...}`), catchable with `pcall`, exactly as in Redis.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Value, VmState};
use tokio::sync::Notify;

use crate::protocol::Reply;

/// How often (in Lua VM instructions) a running script checks for SCRIPT
/// KILL and the busy threshold.
pub const HOOK_INSTRUCTIONS: u32 = 10_000;
/// Most scripts kept compiled (EVAL and SCRIPT LOAD alike); past it the least
/// recently used is dropped, and EVALSHA of it gets NOSCRIPT (clients then
/// send the script again).
pub const SCRIPT_CACHE_MAX: usize = 1000;

/// Redis's reply while a script is busy.
pub const BUSY: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
/// The error a killed script returns to its caller (before the script
/// location suffix).
pub const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";

/// The SHA1 of `body` as 40 lowercase hex digits.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// The Lua state and compiled scripts.
struct Engine {
    lua: Lua,
    /// sha → compiled function.
    functions: HashMap<String, mlua::Function>,
    /// sha → body, in least-recently-used order (front = oldest).
    bodies: VecDeque<(String, Bytes)>,
}

/// Scripting state shared by all clients.
pub struct ScriptState {
    engine: parking_lot::Mutex<Option<Engine>>,
    running: AtomicBool,
    started_ms: AtomicU64,
    kill: std::sync::Arc<AtomicBool>,
    wrote: AtomicBool,
    /// `busy-reply-threshold` in ms for the script now running.
    threshold_ms: AtomicU64,
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
            running: AtomicBool::new(false),
            started_ms: AtomicU64::new(0),
            kill: std::sync::Arc::new(AtomicBool::new(false)),
            wrote: AtomicBool::new(false),
            threshold_ms: AtomicU64::new(5000),
            done: Notify::new(),
            epoch: Instant::now(),
        }
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

    /// Marks that the running script wrote (it can then no longer be killed).
    pub fn note_write(&self) {
        self.wrote.store(true, Ordering::Relaxed);
    }

    /// SCRIPT KILL: Ok if a kill was requested, else the error reply.
    pub fn request_kill(&self) -> Result<(), Reply> {
        if !self.is_running() {
            return Err(Reply::error("NOTBUSY No scripts in execution right now."));
        }
        if self.wrote.load(Ordering::Relaxed) {
            return Err(Reply::error(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            ));
        }
        self.kill.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Stops any running script at its next hook (shutdown).
    pub fn kill_for_shutdown(&self) {
        self.kill.store(true, Ordering::Relaxed);
    }

    /// SCRIPT EXISTS for one sha.
    pub fn exists(&self, sha: &str) -> bool {
        self.engine
            .lock()
            .as_ref()
            .is_some_and(|e| e.functions.contains_key(sha))
    }

    /// SCRIPT FLUSH.
    pub fn flush(&self) {
        if let Some(e) = self.engine.lock().as_mut() {
            e.functions.clear();
            e.bodies.clear();
        }
    }

    /// SCRIPT LOAD / first EVAL: compiles `body` and caches it; returns its
    /// sha, or the compile error reply.
    pub fn load(&self, body: &[u8]) -> Result<String, Reply> {
        let sha = sha1_hex(body);
        let mut guard = self.engine.lock();
        let engine = match engine(&mut guard, &self.kill) {
            Ok(e) => e,
            Err(e) => return Err(Reply::error(format!("ERR {e}"))),
        };
        if engine.functions.contains_key(&sha) {
            touch_lru(&mut engine.bodies, &sha);
            return Ok(sha);
        }
        let f = engine
            .lua
            .load(body)
            .set_name("@user_script")
            .into_function()
            .map_err(|e| {
                Reply::error(format!(
                    "ERR Error compiling script (new function): {}",
                    lua_error_text(&e)
                ))
            })?;
        engine.functions.insert(sha.clone(), f);
        engine
            .bodies
            .push_back((sha.clone(), Bytes::copy_from_slice(body)));
        while engine.bodies.len() > SCRIPT_CACHE_MAX {
            if let Some((old, _)) = engine.bodies.pop_front() {
                engine.functions.remove(&old);
            }
        }
        Ok(sha)
    }

    /// Runs the cached script `sha` with `keys` and `argv`. `call` executes a
    /// `redis.call`/`redis.pcall` request and returns its reply. Blocks the
    /// calling thread for the script's duration (the caller uses
    /// `block_in_place`).
    pub fn run(
        &self,
        sha: &str,
        keys: &[Bytes],
        argv: &[Bytes],
        threshold_ms: u64,
        call: &mut dyn FnMut(Vec<Bytes>) -> Reply,
    ) -> Reply {
        let mut guard = self.engine.lock();
        let engine = match engine(&mut guard, &self.kill) {
            Ok(e) => e,
            Err(e) => return Reply::error(format!("ERR {e}")),
        };
        let Some(function) = engine.functions.get(sha).cloned() else {
            return Reply::error("NOSCRIPT No matching script. Please use EVAL.");
        };
        touch_lru(&mut engine.bodies, sha);
        self.threshold_ms.store(threshold_ms, Ordering::Relaxed);
        self.started_ms.store(self.now_ms(), Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.running.store(true, Ordering::Release);
        self.done.notify_waiters();
        let result = execute(&engine.lua, &function, keys, argv, call);
        self.running.store(false, Ordering::Release);
        self.done.notify_waiters();
        let killed = self.kill.swap(false, Ordering::Relaxed);
        match result {
            Ok(reply) => reply,
            Err(_) if killed => Reply::error(format!("{KILLED} script: {sha}, on @user_script:1.")),
            Err(ScriptError::Lua(text)) => Reply::error(format_runtime_error(&text, sha)),
            Err(ScriptError::Reply(text)) => {
                Reply::error(format!("{text} script: {sha}, on @user_script:1."))
            }
        }
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

/// A Lua error's message without mlua's decorations.
fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}

/// Redis's text for a script that failed with a Lua runtime error:
/// `ERR user_script:1: <message> script: <sha>, on @user_script:1.`
fn format_runtime_error(text: &str, sha: &str) -> String {
    let line = text
        .strip_prefix("user_script:")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(1);
    format!("ERR {text} script: {sha}, on @user_script:{line}.")
}

/// How a script failed.
enum ScriptError {
    /// A Lua error (string message).
    Lua(String),
    /// An error reply raised by `redis.call` or returned as `{err=...}`
    /// from the top level.
    Reply(String),
}

/// Creates the engine on first use.
fn engine<'a>(
    slot: &'a mut Option<Engine>,
    kill: &std::sync::Arc<AtomicBool>,
) -> mlua::Result<&'a mut Engine> {
    if slot.is_none() {
        let lua = new_sandbox()?;
        install_hook(&lua, std::sync::Arc::clone(kill))?;
        *slot = Some(Engine {
            lua,
            functions: HashMap::new(),
            bodies: VecDeque::new(),
        });
    }
    match slot.as_mut() {
        Some(e) => Ok(e),
        None => Err(mlua::Error::RuntimeError("no Lua engine".into())),
    }
}

/// The Lua prelude: the `redis` table and global protection. `__host` is
/// the per-run host function, reachable only through the upvalue `host`.
const PRELUDE: &str = r#"
local host = {}
__pubsubd_host = host
redis = {}
redis.call = function(...)
  local ok, v = host.f(...)
  if ok then return v end
  error(v, 0)
end
redis.pcall = function(...)
  local ok, v = host.f(...)
  return v
end
redis.status_reply = function(s) return {ok = s} end
redis.error_reply = function(s)
  if string.sub(s, 1, 1) ~= '-' then s = '-' .. s end
  if not string.find(s, ' ', 1, true) then return {err = 'ERR ' .. string.sub(s, 2)} end
  return {err = string.sub(s, 2)}
end
redis.sha1hex = function(s) return host.sha1(s) end
redis.log = function(level, ...) return host.log(level, ...) end
redis.setresp = function(v)
  if v ~= 2 and v ~= 3 then error("RESP version must be 2 or 3.", 0) end
  host.resp = v
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
host.run = function(f)
  host.resp = 2
  local ok, v = pcall(f)
  if ok then return true, v end
  if type(v) == 'table' and type(v.err) == 'string' then return false, v end
  return false, tostring(v)
end
loadfile = nil
dofile = nil
__pubsubd_host = nil
setmetatable(_G, {
  __newindex = function(t, k, v)
    error("Attempt to modify a readonly table", 2)
  end,
  __index = function(t, k)
    error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
  end,
})
return host
"#;

/// A Lua state with Redis's sandbox.
fn new_sandbox() -> mlua::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::STRING | StdLib::MATH,
        LuaOptions::default(),
    )?;
    let host: mlua::Table = lua.load(PRELUDE).set_name("@pubsubd_prelude").eval()?;
    host.raw_set(
        "sha1",
        lua.create_function(|lua, s: mlua::LuaString| lua.create_string(sha1_hex(&s.as_bytes())))?,
    )?;
    host.raw_set(
        "log",
        lua.create_function(|_, (level, msg): (i64, mlua::Variadic<mlua::LuaString>)| {
            let text: Vec<String> = msg
                .iter()
                .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
                .collect();
            let text = text.join(" ");
            match level {
                0 => tracing::debug!("script: {text}"),
                1 | 2 => tracing::info!("script: {text}"),
                _ => tracing::warn!("script: {text}"),
            }
            Ok(())
        })?,
    )?;
    lua.set_named_registry_value("pubsubd_host", host)?;
    Ok(lua)
}

/// Installs the kill/busy hook for one run.
fn install_hook(lua: &Lua, kill: std::sync::Arc<AtomicBool>) -> mlua::Result<()> {
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_INSTRUCTIONS),
        move |_lua, _debug| {
            if kill.load(Ordering::Relaxed) {
                return Err(mlua::Error::RuntimeError(
                    "Script killed by user with SCRIPT KILL...".into(),
                ));
            }
            Ok(VmState::Continue)
        },
    )
}

/// Runs `function` with KEYS/ARGV set, `redis.call` routed to `call`.
fn execute(
    lua: &Lua,
    function: &mlua::Function,
    keys: &[Bytes],
    argv: &[Bytes],
    call: &mut dyn FnMut(Vec<Bytes>) -> Reply,
) -> Result<Reply, ScriptError> {
    let lua_err = |e: mlua::Error| ScriptError::Lua(lua_error_text(&e));
    let globals = lua.globals();
    let to_table = |items: &[Bytes]| -> mlua::Result<mlua::Table> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(item)?)?;
        }
        Ok(t)
    };
    globals
        .raw_set("KEYS", to_table(keys).map_err(lua_err)?)
        .map_err(lua_err)?;
    globals
        .raw_set("ARGV", to_table(argv).map_err(lua_err)?)
        .map_err(lua_err)?;
    let host: mlua::Table = lua.named_registry_value("pubsubd_host").map_err(lua_err)?;
    let outcome = lua.scope(|scope| {
        let f = scope.create_function_mut(|lua, args: mlua::Variadic<Value>| {
            let reply = match command_args(&args) {
                Ok(words) => call(words),
                Err(e) => Reply::error(e),
            };
            let is_err = matches!(reply, Reply::Error(_));
            let resp3 = matches!(host.raw_get::<Value>("resp"), Ok(Value::Integer(3)));
            let value = reply_to_lua(lua, &reply, resp3)?;
            Ok((!is_err, value))
        })?;
        host.raw_set("f", f)?;
        let run: mlua::Function = host.raw_get("run")?;
        let result = run.call::<(bool, Value)>(function.clone());
        host.raw_set("f", Value::Nil)?;
        result
    });
    let _ = globals.raw_set("KEYS", Value::Nil);
    let _ = globals.raw_set("ARGV", Value::Nil);
    let resp3 = matches!(host.raw_get::<Value>("resp"), Ok(Value::Integer(3)));
    match outcome {
        Err(e) => Err(lua_err(e)),
        Ok((true, v)) => Ok(lua_to_reply(&v, resp3)),
        Ok((false, Value::Table(t))) => {
            let text = match t.raw_get::<Value>("err") {
                Ok(Value::String(e)) => String::from_utf8_lossy(&e.as_bytes()).into_owned(),
                _ => "ERR unknown error".into(),
            };
            Err(ScriptError::Reply(text))
        }
        Ok((false, v)) => Err(ScriptError::Lua(match v {
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            other => format!("{other:?}"),
        })),
    }
}

/// Converts `redis.call` arguments (strings or numbers) to command words.
fn command_args(args: &[Value]) -> Result<Vec<Bytes>, String> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call".into());
    }
    let mut words = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::String(s) => words.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(i) => words.push(Bytes::from(i.to_string())),
            Value::Number(n) => words.push(Bytes::from(format_lua_number(*n))),
            _ => {
                return Err(
                    "ERR Lua redis lib command arguments must be strings or integers".into(),
                );
            }
        }
    }
    Ok(words)
}

/// Lua's `%.14g` rendering of a number.
fn format_lua_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// A reply as Redis hands it to Lua: RESP2 rules, or RESP3 rules after
/// `redis.setresp(3)` (null stays nil; maps, sets, doubles and booleans keep
/// their type).
fn reply_to_lua(lua: &Lua, reply: &Reply, resp3: bool) -> mlua::Result<Value> {
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
        Reply::Nil | Reply::NilArray | Reply::Sent if resp3 => Value::Nil,
        Reply::Nil | Reply::NilArray | Reply::Sent => Value::Boolean(false),
        Reply::Map(pairs) if resp3 => {
            let t = lua.create_table()?;
            for (k, v) in pairs {
                t.raw_set(reply_to_lua(lua, k, resp3)?, reply_to_lua(lua, v, resp3)?)?;
            }
            wrap("map", Value::Table(t))?
        }
        Reply::Set(items) if resp3 => {
            let t = lua.create_table()?;
            for item in items {
                t.raw_set(reply_to_lua(lua, item, resp3)?, true)?;
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
                t.raw_set(i + 1, reply_to_lua(lua, item, resp3)?)?;
            }
            Value::Table(t)
        }
        Reply::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.iter().enumerate() {
                t.raw_set(2 * i + 1, reply_to_lua(lua, k, resp3)?)?;
                t.raw_set(2 * i + 2, reply_to_lua(lua, v, resp3)?)?;
            }
            Value::Table(t)
        }
    })
}

/// A script's return value as a reply (Redis's Lua → RESP rules; after
/// `redis.setresp(3)` booleans stay booleans).
fn lua_to_reply(v: &Value, resp3: bool) -> Reply {
    match v {
        Value::Nil => Reply::Nil,
        Value::Boolean(b) if resp3 => Reply::Bool(*b),
        Value::Boolean(true) => Reply::Int(1),
        Value::Boolean(false) => Reply::Nil,
        Value::Integer(i) => Reply::Int(*i),
        Value::Number(n) => Reply::Int(n.trunc() as i64),
        Value::String(s) => Reply::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => {
            if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
                return Reply::Error(String::from_utf8_lossy(&e.as_bytes()).into_owned());
            }
            if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
                return Reply::Status(Bytes::copy_from_slice(&s.as_bytes()));
            }
            if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
                let mut pairs = Vec::new();
                for (k, v) in m.pairs::<Value, Value>().flatten() {
                    pairs.push((lua_to_reply(&k, resp3), lua_to_reply(&v, resp3)));
                }
                return Reply::Map(pairs);
            }
            if let Ok(Value::Table(set)) = t.raw_get::<Value>("set") {
                let items = set
                    .pairs::<Value, Value>()
                    .flatten()
                    .map(|(k, _)| lua_to_reply(&k, resp3))
                    .collect();
                return Reply::Set(items);
            }
            match t.raw_get::<Value>("double") {
                Ok(Value::Number(d)) => return Reply::Double(d),
                Ok(Value::Integer(i)) => return Reply::Double(i as f64),
                _ => {}
            }
            let mut items = Vec::new();
            let mut i = 1;
            loop {
                match t.raw_get::<Value>(i) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(item) => items.push(lua_to_reply(&item, resp3)),
                }
                i += 1;
            }
            Reply::Array(items)
        }
        _ => Reply::Nil,
    }
}
