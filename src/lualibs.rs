//! The `cjson`, `cmsgpack` and `bit` libraries Redis bundles into its Lua sandbox (`struct`
//! is in `luastruct.rs`), as
//! Rust functions over mlua values with the observable behaviour of Redis
//! 7.0's copies (lua-cjson 2.1, lua-cmsgpack 0.4 and LuaBitOp 1.0): output bytes, error texts
//! and the `cjson` settings scripts may change. MessagePack markers are
//! written with the rmp crate. JSON text is parsed by
//! serde_json straight into Lua values, so decoded data is allocated (and
//! limited) by Lua. Every function returns `true, results...` or `false,
//! message`; the sandbox wraps it so that the message is raised as a plain
//! Lua error string, as the C libraries raise theirs.

use std::fmt;
use std::sync::Arc;

use mlua::{LightUserData, Lua, MultiValue, Table, Value};
use parking_lot::Mutex;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Hard cap on the nesting depth `cjson.encode` and `cjson.decode` follow,
/// whatever `cjson.encode_max_depth`/`decode_max_depth` ask for: it is also
/// lua-cjson's default (1000), and it bounds the recursion of the encoder
/// and of the decoder (serde_json's own limit, 128, is turned off for it).
pub const JSON_DEPTH_MAX: usize = 1000;

/// lua-cjson's default for `encode_sparse_array`'s ratio: an array whose
/// largest index exceeds twice its item count (and [`SPARSE_SAFE`]) is
/// "excessively sparse".
const SPARSE_RATIO: u32 = 2;

/// lua-cjson's default for `encode_sparse_array`'s safe size: arrays with
/// indexes up to this are never too sparse.
const SPARSE_SAFE: u32 = 10;

/// The `cjson` settings a script may change; they last as long as the Lua
/// state, as in Redis.
#[derive(Clone, Copy)]
struct JsonConfig {
    encode_max_depth: usize,
    decode_max_depth: usize,
    /// 0: refuse NaN/Inf, 1: write them (`nan`, `inf`), 2: write `null`.
    encode_invalid_numbers: u8,
    decode_invalid_numbers: bool,
    encode_keep_buffer: bool,
    sparse_convert: bool,
    sparse_ratio: u32,
    sparse_safe: u32,
    number_precision: u32,
}

impl Default for JsonConfig {
    fn default() -> Self {
        JsonConfig {
            encode_max_depth: JSON_DEPTH_MAX,
            decode_max_depth: JSON_DEPTH_MAX,
            encode_invalid_numbers: 0,
            decode_invalid_numbers: false,
            encode_keep_buffer: true,
            sparse_convert: false,
            sparse_ratio: SPARSE_RATIO,
            sparse_safe: SPARSE_SAFE,
            number_precision: 14,
        }
    }
}

type Shared = Arc<Mutex<JsonConfig>>;

/// Result of a library function: `Ok(values)` or a Lua error message.
pub(crate) type LibResult = Result<Vec<Value>, String>;

pub(crate) fn wrap(lua: &Lua, r: LibResult) -> mlua::Result<MultiValue> {
    match r {
        Ok(values) => {
            let mut out = MultiValue::with_capacity(values.len() + 1);
            out.push_back(Value::Boolean(true));
            out.extend(values);
            Ok(out)
        }
        Err(msg) => match msg.strip_prefix(BARE) {
            Some(bare) => Ok(MultiValue::from_iter([
                Value::Boolean(false),
                Value::String(lua.create_string(bare)?),
                Value::Boolean(true),
            ])),
            None => Ok(MultiValue::from_iter([
                Value::Boolean(false),
                Value::String(lua.create_string(msg)?),
            ])),
        },
    }
}

/// Marks an error message Lua itself raises inside a C library (no script
/// position in front), such as "table index is nil".
const BARE: &str = "\u{0}";

/// `cjson.null`: lua-cjson's NULL light userdata.
fn json_null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// Lua's type name of a value, as `lua_typename` gives it.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// Lua's number coercion (`luaL_checknumber`): numbers, and strings that
/// read as numbers.
pub(crate) fn to_number(lua: &Lua, v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) => Some(*i as f64),
        Value::Number(n) => Some(*n),
        Value::String(_) => lua.coerce_number(v.clone()).ok().flatten(),
        _ => None,
    }
}

/// luaL_checknumber's error text.
pub(crate) fn bad_number(arg: usize, func: &str, v: Option<&Value>) -> String {
    let got = v.map(type_name).unwrap_or("no value");
    format!("bad argument #{arg} to '{func}' (number expected, got {got})")
}

/// How many bytes the Lua state may still allocate: the encoder's output
/// buffer lives outside Lua, so it stops there.
pub(crate) fn lua_headroom(lua: &Lua) -> mlua::Result<usize> {
    let limit = lua.set_memory_limit(0)?;
    lua.set_memory_limit(limit)?;
    if limit == 0 {
        return Ok(usize::MAX);
    }
    Ok(limit.saturating_sub(lua.used_memory()))
}

struct Encoder<'a> {
    lua: &'a Lua,
    cfg: JsonConfig,
    out: Vec<u8>,
    cap: usize,
}

impl Encoder<'_> {
    fn push(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.out.len() + bytes.len() > self.cap {
            return Err("not enough memory".to_string());
        }
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn string(&mut self, s: &[u8]) -> Result<(), String> {
        self.push(b"\"")?;
        let mut start = 0;
        for (i, &c) in s.iter().enumerate() {
            let esc: Option<&[u8]> = match c {
                b'"' => Some(b"\\\""),
                b'\\' => Some(b"\\\\"),
                b'/' => Some(b"\\/"),
                b'\n' => Some(b"\\n"),
                b'\t' => Some(b"\\t"),
                b'\r' => Some(b"\\r"),
                0x08 => Some(b"\\b"),
                0x0c => Some(b"\\f"),
                _ => None,
            };
            if esc.is_none() && c >= 0x20 && c != 0x7f {
                continue;
            }
            self.push(&s[start..i])?;
            match esc {
                Some(e) => self.push(e)?,
                None => self.push(format!("\\u{c:04x}").as_bytes())?,
            }
            start = i + 1;
        }
        self.push(&s[start..])?;
        self.push(b"\"")
    }

    fn number(&mut self, n: f64, v: &Value) -> Result<(), String> {
        if !n.is_finite() {
            match self.cfg.encode_invalid_numbers {
                0 => {
                    return Err(format!(
                        "Cannot serialise {}: must not be NaN or Inf",
                        type_name(v)
                    ));
                }
                1 if n.is_nan() => return self.push(b"nan"),
                1 => {}
                _ => return self.push(b"null"),
            }
        }
        let text = format_g(n, self.cfg.number_precision);
        self.push(text.as_bytes())
    }

    fn value(&mut self, v: &Value, depth: usize) -> Result<(), String> {
        match v {
            Value::Nil => self.push(b"null"),
            Value::Boolean(true) => self.push(b"true"),
            Value::Boolean(false) => self.push(b"false"),
            Value::Integer(i) => self.number(*i as f64, v),
            Value::Number(n) => self.number(*n, v),
            Value::String(s) => self.string(&s.as_bytes()),
            Value::LightUserData(u) if u.0.is_null() => self.push(b"null"),
            Value::Table(t) => self.table(t, depth + 1),
            other => Err(format!(
                "Cannot serialise {}: type not supported",
                type_name(other)
            )),
        }
    }

    /// The table's array length, or None when it must be an object.
    fn array_len(&self, t: &Table) -> Result<Option<usize>, String> {
        let mut max = 0f64;
        let mut items = 0f64;
        for pair in t.pairs::<Value, Value>() {
            let (k, _) = pair.map_err(|e| e.to_string())?;
            let k = match k {
                Value::Integer(i) => i as f64,
                Value::Number(n) => n,
                _ => return Ok(None),
            };
            if k.floor() != k || k < 1.0 {
                return Ok(None);
            }
            max = max.max(k);
            items += 1.0;
        }
        let ratio = self.cfg.sparse_ratio as f64;
        if ratio > 0.0 && max > items * ratio && max > self.cfg.sparse_safe as f64 {
            if !self.cfg.sparse_convert {
                return Err("Cannot serialise table: excessively sparse array".to_string());
            }
            return Ok(None);
        }
        Ok(Some(max as usize))
    }

    fn table(&mut self, t: &Table, depth: usize) -> Result<(), String> {
        if depth > self.cfg.encode_max_depth.min(JSON_DEPTH_MAX) {
            return Err(format!("Cannot serialise, excessive nesting ({depth})"));
        }
        match self.array_len(t)? {
            Some(len) if len > 0 => {
                self.push(b"[")?;
                for i in 1..=len {
                    if i > 1 {
                        self.push(b",")?;
                    }
                    let v: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                    self.value(&v, depth)?;
                }
                self.push(b"]")
            }
            _ => {
                self.push(b"{")?;
                let mut first = true;
                for pair in t.pairs::<Value, Value>() {
                    let (k, v) = pair.map_err(|e| e.to_string())?;
                    if !first {
                        self.push(b",")?;
                    }
                    first = false;
                    match &k {
                        Value::String(s) => self.string(&s.as_bytes())?,
                        Value::Integer(_) | Value::Number(_) => {
                            let n = to_number(self.lua, &k).unwrap_or(0.0);
                            self.push(b"\"")?;
                            self.number(n, &k)?;
                            self.push(b"\"")?;
                        }
                        other => {
                            return Err(format!(
                                "Cannot serialise {}: table key must be a number or string",
                                type_name(other)
                            ));
                        }
                    }
                    self.push(b":")?;
                    self.value(&v, depth)?;
                }
                self.push(b"}")
            }
        }
    }
}

/// C's `%.<precision>g`, which lua-cjson uses for numbers (and Redis for
/// the numbers a script passes to `redis.call`).
pub(crate) fn format_g(n: f64, precision: u32) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf" } else { "inf" }.to_string();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let p = precision.max(1) as usize;
    let sci = format!("{:.*e}", p - 1, n);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{n:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Builds Lua values while serde_json parses.
struct LuaSeed<'a> {
    lua: &'a Lua,
    depth: usize,
    max_depth: usize,
}

struct TooDeep;

impl<'de> DeserializeSeed<'de> for LuaSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LuaSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Boolean(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(json_null())
    }
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Value, E> {
        self.lua
            .create_string(s)
            .map(Value::String)
            .map_err(E::custom)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let t = self.open::<A::Error>()?;
        let mut i = 1;
        while let Some(v) = seq.next_element_seed(self.child())? {
            t.raw_set(i, v).map_err(serde::de::Error::custom)?;
            i += 1;
        }
        Ok(Value::Table(t))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let t = self.open::<A::Error>()?;
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(self.child())?;
            t.raw_set(k, v).map_err(serde::de::Error::custom)?;
        }
        Ok(Value::Table(t))
    }
}

impl LuaSeed<'_> {
    fn child(&self) -> Self {
        LuaSeed {
            lua: self.lua,
            depth: self.depth + 1,
            max_depth: self.max_depth,
        }
    }
    fn open<E: serde::de::Error>(&self) -> Result<Table, E> {
        if self.depth + 1 > self.max_depth {
            return Err(E::custom(TooDeep));
        }
        self.lua.create_table().map_err(E::custom)
    }
}

impl fmt::Display for TooDeep {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\u{0}too deep")
    }
}

fn decode(lua: &Lua, cfg: JsonConfig, text: &[u8]) -> LibResult {
    let max_depth = cfg.decode_max_depth.min(JSON_DEPTH_MAX);
    let mut de = serde_json::Deserializer::from_slice(text);
    // LuaSeed stops at `max_depth`, which bounds the recursion.
    de.disable_recursion_limit();
    let seed = LuaSeed {
        lua,
        depth: 0,
        max_depth,
    };
    let parsed = match seed.deserialize(&mut de) {
        Ok(v) => match de.end() {
            Ok(()) => return Ok(vec![v]),
            Err(e) => {
                let at = char_offset(text, e.line(), e.column());
                return Err(format!(
                    "Expected the end but found invalid token at character {at}"
                ));
            }
        },
        Err(e) => Err(e),
    };
    match parsed {
        Ok(v) => Ok(vec![v]),
        Err(e) => {
            let at = char_offset(text, e.line(), e.column());
            let msg = e.to_string();
            if msg.starts_with('\u{0}') {
                let depth = max_depth + 1;
                let at = opening_offset(text, depth);
                return Err(format!(
                    "Found too many nested data structures ({depth}) at character {at}"
                ));
            }
            if e.is_eof() {
                return Err(format!(
                    "Expected value but found T_END at character {}",
                    text.len() + 1
                ));
            }
            Err(format!(
                "Expected value but found invalid token at character {at}"
            ))
        }
    }
}

/// The 1-based byte offset of the bracket that opens nesting level `depth`
/// (where lua-cjson reports it is too deep); JSON strings are skipped.
fn opening_offset(text: &[u8], depth: usize) -> usize {
    let (mut level, mut in_string, mut escaped) = (0, false, false);
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                level += 1;
                if level == depth {
                    return i + 1;
                }
            }
            b']' | b'}' => level = level.saturating_sub(1),
            _ => {}
        }
    }
    text.len()
}

/// The 1-based byte offset of serde_json's line and column.
fn char_offset(text: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split(|&b| b == b'\n').enumerate() {
        if i + 1 == line {
            return offset + column.max(1);
        }
        offset += l.len() + 1;
    }
    offset.max(1)
}

/// Reads an integer setting argument, as lua-cjson's `json_integer_option`.
fn int_option(
    lua: &Lua,
    args: &[Value],
    func: &str,
    min: i64,
    max: i64,
) -> Result<Option<i64>, String> {
    match args.first() {
        None | Some(Value::Nil) => Ok(None),
        Some(v) => {
            let n = to_number(lua, v).ok_or_else(|| bad_number(1, func, Some(v)))? as i64;
            if n < min || n > max {
                return Err(format!(
                    "bad argument #1 to '{func}' (expected integer between {min} and {max})"
                ));
            }
            Ok(Some(n))
        }
    }
}

/// Reads an on/off setting argument: `true`/`false` or "on"/"off" (and
/// "null" where `allow_null`), as lua-cjson's `json_enum_option`.
fn enum_option(args: &[Value], func: &str, allow_null: bool) -> Result<Option<u8>, String> {
    match args.first() {
        None | Some(Value::Nil) => Ok(None),
        Some(Value::Boolean(b)) => Ok(Some(u8::from(*b))),
        Some(Value::String(s)) => match &*s.as_bytes() {
            b"off" => Ok(Some(0)),
            b"on" => Ok(Some(1)),
            b"null" if allow_null => Ok(Some(2)),
            other => Err(format!(
                "bad argument #1 to '{func}' (invalid option '{}')",
                String::from_utf8_lossy(other)
            )),
        },
        Some(other) => Err(format!(
            "bad argument #1 to '{func}' (string expected, got {})",
            type_name(other)
        )),
    }
}

fn on_off(lua: &Lua, v: u8) -> mlua::Result<Value> {
    if v == 2 {
        return Ok(Value::String(lua.create_string("null")?));
    }
    Ok(Value::Boolean(v == 1))
}

fn cjson_setting(lua: &Lua, cfg: &Shared, name: &str, args: &[Value]) -> mlua::Result<LibResult> {
    let mut c = cfg.lock();
    let r = match name {
        "encode_max_depth" | "decode_max_depth" => {
            match int_option(lua, args, name, 1, i32::MAX as i64) {
                Err(e) => Err(e),
                Ok(n) => {
                    let slot = if name == "encode_max_depth" {
                        &mut c.encode_max_depth
                    } else {
                        &mut c.decode_max_depth
                    };
                    if let Some(n) = n {
                        *slot = n as usize;
                    }
                    Ok(vec![Value::Number(*slot as f64)])
                }
            }
        }
        "encode_number_precision" => match int_option(lua, args, name, 1, 14) {
            Err(e) => Err(e),
            Ok(n) => {
                if let Some(n) = n {
                    c.number_precision = n as u32;
                }
                Ok(vec![Value::Number(c.number_precision as f64)])
            }
        },
        "encode_keep_buffer" | "decode_invalid_numbers" => match enum_option(args, name, false) {
            Err(e) => Err(e),
            Ok(v) => {
                let slot = if name == "encode_keep_buffer" {
                    &mut c.encode_keep_buffer
                } else {
                    &mut c.decode_invalid_numbers
                };
                if let Some(v) = v {
                    *slot = v == 1;
                }
                Ok(vec![Value::Boolean(*slot)])
            }
        },
        "encode_invalid_numbers" => match enum_option(args, name, true) {
            Err(e) => Err(e),
            Ok(v) => {
                if let Some(v) = v {
                    c.encode_invalid_numbers = v;
                }
                Ok(vec![on_off(lua, c.encode_invalid_numbers)?])
            }
        },
        _ => {
            // encode_sparse_array(convert, ratio, safe)
            let convert = enum_option(args, name, false);
            let ratio = int_option(lua, args.get(1..).unwrap_or(&[]), name, 0, i32::MAX as i64);
            let safe = int_option(lua, args.get(2..).unwrap_or(&[]), name, 0, i32::MAX as i64);
            match (convert, ratio, safe) {
                (Ok(convert), Ok(ratio), Ok(safe)) => {
                    if let Some(v) = convert {
                        c.sparse_convert = v == 1;
                    }
                    if let Some(v) = ratio {
                        c.sparse_ratio = v as u32;
                    }
                    if let Some(v) = safe {
                        c.sparse_safe = v as u32;
                    }
                    Ok(vec![
                        Value::Boolean(c.sparse_convert),
                        Value::Number(c.sparse_ratio as f64),
                        Value::Number(c.sparse_safe as f64),
                    ])
                }
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(e),
            }
        }
    };
    Ok(r)
}

/// The raw `cjson` table (functions return a status first; see the module
/// doc).
fn cjson_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let cfg: Shared = Arc::new(Mutex::new(JsonConfig::default()));
    let c = Arc::clone(&cfg);
    t.raw_set(
        "encode",
        lua.create_function(move |lua, args: MultiValue| {
            if args.len() != 1 {
                let msg = "bad argument #1 to 'encode' (expected 1 argument)";
                return wrap(lua, Err(msg.to_string()));
            }
            let cfg = *c.lock();
            let mut enc = Encoder {
                lua,
                cfg,
                out: Vec::new(),
                cap: lua_headroom(lua)?,
            };
            let v = args.front().cloned().unwrap_or(Value::Nil);
            let r = match enc.value(&v, 0) {
                Ok(()) => lua
                    .create_string(&enc.out)
                    .map(|s| vec![Value::String(s)])?,
                Err(e) => return wrap(lua, Err(e)),
            };
            wrap(lua, Ok(r))
        })?,
    )?;
    let c = Arc::clone(&cfg);
    t.raw_set(
        "decode",
        lua.create_function(move |lua, args: MultiValue| {
            if args.len() != 1 {
                let msg = "bad argument #1 to 'decode' (expected 1 argument)";
                return wrap(lua, Err(msg.to_string()));
            }
            let cfg = *c.lock();
            let r = match args.front() {
                Some(Value::String(s)) => decode(lua, cfg, &s.as_bytes()),
                Some(v @ (Value::Integer(_) | Value::Number(_))) => {
                    let s = lua.coerce_string(v.clone())?;
                    match s {
                        Some(s) => decode(lua, cfg, &s.as_bytes()),
                        None => Err(bad_number(1, "decode", Some(v))),
                    }
                }
                v => Err(format!(
                    "bad argument #1 to 'decode' (string expected, got {})",
                    v.map(type_name).unwrap_or("no value")
                )),
            };
            wrap(lua, r)
        })?,
    )?;
    for name in [
        "encode_sparse_array",
        "encode_max_depth",
        "decode_max_depth",
        "encode_number_precision",
        "encode_keep_buffer",
        "encode_invalid_numbers",
        "decode_invalid_numbers",
    ] {
        let c = Arc::clone(&cfg);
        t.raw_set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let args: Vec<Value> = args.into_iter().collect();
                let r = cjson_setting(lua, &c, name, &args)?;
                wrap(lua, r)
            })?,
        )?;
    }
    t.raw_set("null", json_null())?;
    t.raw_set("_NAME", "cjson")?;
    t.raw_set("_VERSION", "2.1.0")?;
    Ok(t)
}

/// LuaBitOp's conversion of a Lua number to a 32-bit integer: rounded to
/// nearest (ties to even), wrapped modulo 2^32.
fn tobit(n: f64) -> i32 {
    if !n.is_finite() {
        return 0;
    }
    n.round_ties_even().rem_euclid(4_294_967_296.0) as u32 as i32
}

fn bit_arg(lua: &Lua, args: &[Value], i: usize, func: &str) -> Result<i32, String> {
    let v = args.get(i);
    v.and_then(|v| to_number(lua, v))
        .map(tobit)
        .ok_or_else(|| bad_number(i + 1, func, v))
}

fn bit_call(lua: &Lua, func: &str, args: &[Value]) -> LibResult {
    let num = |x: i32| Value::Number(x as f64);
    let a = bit_arg(lua, args, 0, func)?;
    let r = match func {
        "tobit" => a,
        "bnot" => !a,
        "bswap" => a.swap_bytes(),
        "band" | "bor" | "bxor" => {
            let mut acc = a;
            for i in 1..args.len() {
                let b = bit_arg(lua, args, i, func)?;
                acc = match func {
                    "band" => acc & b,
                    "bor" => acc | b,
                    _ => acc ^ b,
                };
            }
            acc
        }
        "tohex" => {
            let n = match args.get(1) {
                None | Some(Value::Nil) => 8,
                Some(_) => bit_arg(lua, args, 1, func)?,
            };
            let upper = n < 0;
            let digits = n.unsigned_abs().min(8) as usize;
            let mask = if digits == 8 {
                u32::MAX
            } else {
                (1u32 << (4 * digits)) - 1
            };
            let v = a as u32 & mask;
            let s = if upper {
                format!("{v:0digits$X}")
            } else {
                format!("{v:0digits$x}")
            };
            return lua
                .create_string(s)
                .map(|s| vec![Value::String(s)])
                .map_err(|e| e.to_string());
        }
        _ => {
            let n = (bit_arg(lua, args, 1, func)? & 31) as u32;
            match func {
                "lshift" => ((a as u32) << n) as i32,
                "rshift" => ((a as u32) >> n) as i32,
                "arshift" => a >> n,
                "rol" => (a as u32).rotate_left(n) as i32,
                _ => (a as u32).rotate_right(n) as i32,
            }
        }
    };
    Ok(vec![num(r)])
}

/// The raw `bit` table (functions return a status first).
fn bit_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for name in [
        "tobit", "bnot", "band", "bor", "bxor", "lshift", "rshift", "arshift", "rol", "ror",
        "bswap", "tohex",
    ] {
        t.raw_set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let args: Vec<Value> = args.into_iter().collect();
                wrap(lua, bit_call(lua, name, &args))
            })?,
        )?;
    }
    Ok(t)
}

/// lua-cmsgpack's table nesting limit: a table nested deeper is packed as
/// nil, which is also what keeps circular references finite.
const MSGPACK_PACK_DEPTH: usize = 16;

/// How deep `cmsgpack.unpack` follows nested arrays and maps: data packed
/// here is at most [`MSGPACK_PACK_DEPTH`] deep, deeper input is refused
/// instead of recursing on.
pub const MSGPACK_UNPACK_DEPTH_MAX: usize = 1000;

/// How many values one `cmsgpack.unpack` call may return: Lua 5.1's C stack
/// limit (LUAI_MAXCSTACK, 8000) less a margin; longer streams are read with
/// `unpack_one`/`unpack_limit`, as lua-cmsgpack's error says.
pub const MSGPACK_UNPACK_RESULTS_MAX: usize = 7990;

fn mp_pack_value(enc: &mut Encoder, v: &Value, level: usize) -> Result<(), String> {
    let w = &mut enc.out;
    let start = w.len();
    let r: Result<(), String> = match v {
        Value::Table(_) if level == MSGPACK_PACK_DEPTH => {
            rmp::encode::write_nil(w).map_err(|e| e.to_string())
        }
        Value::String(s) => {
            let s = s.as_bytes();
            let len = u32::try_from(s.len()).map_err(|_| "string too long".to_string())?;
            rmp::encode::write_str_len(w, len).map_err(|e| e.to_string())?;
            w.extend_from_slice(&s);
            Ok(())
        }
        Value::Boolean(b) => rmp::encode::write_bool(w, *b).map_err(|e| e.to_string()),
        Value::Integer(i) => mp_pack_int(w, *i),
        Value::Number(n) => {
            // lua-cmsgpack's IS_INT64_EQUIVALENT: integral and in i64 range.
            if n.fract() == 0.0 && *n >= -9.223_372_036_854_776e18 && *n < 9.223_372_036_854_776e18
            {
                mp_pack_int(w, *n as i64)
            } else if (*n as f32) as f64 == *n {
                rmp::encode::write_f32(w, *n as f32).map_err(|e| e.to_string())
            } else {
                rmp::encode::write_f64(w, *n).map_err(|e| e.to_string())
            }
        }
        Value::Table(t) => return mp_pack_table(enc, t, level),
        _ => rmp::encode::write_nil(w).map_err(|e| e.to_string()),
    };
    r?;
    if enc.out.len() > enc.cap {
        enc.out.truncate(start);
        return Err("not enough memory".to_string());
    }
    Ok(())
}

fn mp_pack_int(w: &mut Vec<u8>, n: i64) -> Result<(), String> {
    use rmp::encode as e;
    let r = if n >= 0 {
        if n <= 127 {
            return e::write_pfix(w, n as u8).map_err(|e| e.to_string());
        } else if n <= 0xff {
            e::write_u8(w, n as u8)
        } else if n <= 0xffff {
            e::write_u16(w, n as u16)
        } else if n <= 0xffff_ffff {
            e::write_u32(w, n as u32)
        } else {
            e::write_u64(w, n as u64)
        }
    } else if n >= -32 {
        return e::write_nfix(w, n as i8).map_err(|e| e.to_string());
    } else if n >= -128 {
        e::write_i8(w, n as i8)
    } else if n >= -32768 {
        e::write_i16(w, n as i16)
    } else if n >= -2_147_483_648 {
        e::write_i32(w, n as i32)
    } else {
        e::write_i64(w, n)
    };
    r.map_err(|e| e.to_string())
}

fn mp_pack_table(enc: &mut Encoder, t: &Table, level: usize) -> Result<(), String> {
    let err = |e: mlua::Error| e.to_string();
    // An array: keys exactly 1..n (lua-cmsgpack's table_is_an_array).
    let (mut count, mut max, mut array) = (0u64, 0f64, true);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair.map_err(err)?;
        count += 1;
        let n = match k {
            Value::Integer(i) => i as f64,
            Value::Number(n) => n,
            _ => {
                array = false;
                continue;
            }
        };
        if n <= 0.0 || n.fract() != 0.0 || n > i32::MAX as f64 {
            array = false;
        }
        max = max.max(n);
    }
    let len_err = |_| "table too large".to_string();
    if array && max == count as f64 {
        let len = t.raw_len();
        let n = u32::try_from(len).map_err(len_err)?;
        rmp::encode::write_array_len(&mut enc.out, n).map_err(|e| e.to_string())?;
        for i in 1..=len {
            let v: Value = t.get(i).map_err(err)?;
            mp_pack_value(enc, &v, level + 1)?;
        }
    } else {
        let n = u32::try_from(count).map_err(len_err)?;
        rmp::encode::write_map_len(&mut enc.out, n).map_err(|e| e.to_string())?;
        for pair in t.pairs::<Value, Value>() {
            let (k, v) = pair.map_err(err)?;
            mp_pack_value(enc, &k, level + 1)?;
            mp_pack_value(enc, &v, level + 1)?;
        }
    }
    Ok(())
}

enum MpError {
    Eof,
    BadFormat,
    Other(String),
}

struct MpCursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> MpCursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MpError> {
        let end = self.pos.checked_add(n).ok_or(MpError::Eof)?;
        let bytes = self.data.get(self.pos..end).ok_or(MpError::Eof)?;
        self.pos = end;
        Ok(bytes)
    }
    fn be(&mut self, n: usize) -> Result<u64, MpError> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }
}

fn mp_unpack_value(lua: &Lua, c: &mut MpCursor, depth: usize) -> Result<Value, MpError> {
    use rmp::Marker as M;
    let other = |e: mlua::Error| MpError::Other(e.to_string());
    let mut rest = c.data.get(c.pos..).unwrap_or(&[]);
    let before = rest.len();
    let marker = rmp::decode::read_marker(&mut rest).map_err(|_| MpError::Eof)?;
    c.pos += before - rest.len();
    let num = |n: f64| Ok(Value::Number(n));
    let (len, is_map) = match marker {
        M::FixPos(n) => return num(n as f64),
        M::FixNeg(n) => return num(n as f64),
        M::U8 => return num(c.be(1)? as f64),
        M::U16 => return num(c.be(2)? as f64),
        M::U32 => return num(c.be(4)? as f64),
        M::U64 => return num(c.be(8)? as f64),
        M::I8 => return num(c.be(1)? as u8 as i8 as f64),
        M::I16 => return num(c.be(2)? as u16 as i16 as f64),
        M::I32 => return num(c.be(4)? as u32 as i32 as f64),
        M::I64 => return num(c.be(8)? as i64 as f64),
        M::F32 => return num(f32::from_bits(c.be(4)? as u32) as f64),
        M::F64 => return num(f64::from_bits(c.be(8)?)),
        M::Null => return Ok(Value::Nil),
        M::True => return Ok(Value::Boolean(true)),
        M::False => return Ok(Value::Boolean(false)),
        M::FixStr(n) => return mp_string(lua, c, n as usize),
        M::Str8 => {
            let n = c.be(1)? as usize;
            return mp_string(lua, c, n);
        }
        M::Str16 => {
            let n = c.be(2)? as usize;
            return mp_string(lua, c, n);
        }
        M::Str32 => {
            let n = c.be(4)? as usize;
            return mp_string(lua, c, n);
        }
        M::FixArray(n) => (n as u64, false),
        M::Array16 => (c.be(2)?, false),
        M::Array32 => (c.be(4)?, false),
        M::FixMap(n) => (n as u64, true),
        M::Map16 => (c.be(2)?, true),
        M::Map32 => (c.be(4)?, true),
        _ => return Err(MpError::BadFormat),
    };
    if depth >= MSGPACK_UNPACK_DEPTH_MAX {
        return Err(MpError::Other(
            "too many nested data structures".to_string(),
        ));
    }
    let t = lua.create_table().map_err(other)?;
    for i in 1..=len {
        if is_map {
            let k = mp_unpack_value(lua, c, depth + 1)?;
            let v = mp_unpack_value(lua, c, depth + 1)?;
            match k {
                Value::Nil => return Err(MpError::Other(format!("{BARE}table index is nil"))),
                Value::Number(n) if n.is_nan() => {
                    return Err(MpError::Other(format!("{BARE}table index is NaN")));
                }
                k => t.raw_set(k, v).map_err(other)?,
            }
        } else {
            let v = mp_unpack_value(lua, c, depth + 1)?;
            t.raw_set(i, v).map_err(other)?;
        }
    }
    Ok(Value::Table(t))
}

fn mp_string(lua: &Lua, c: &mut MpCursor, n: usize) -> Result<Value, MpError> {
    let bytes = c.take(n)?;
    lua.create_string(bytes)
        .map(Value::String)
        .map_err(|e| MpError::Other(e.to_string()))
}

/// lua-cmsgpack's `mp_unpack_full`: `limit` and `offset` both 0 decode the
/// whole string and return the values; otherwise the next offset (-1 at the
/// end) comes first.
fn mp_unpack(lua: &Lua, func: &str, args: &[Value], limit: i64, offset: i64) -> LibResult {
    // The input is read where Lua holds it, not copied out of its heap.
    let input = match args.first() {
        Some(Value::String(s)) => Some(s.clone()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => {
            lua.coerce_string(v.clone()).map_err(|e| e.to_string())?
        }
        v => {
            return Err(format!(
                "bad argument #1 to '{func}' (string expected, got {})",
                v.map(type_name).unwrap_or("no value")
            ));
        }
    };
    let bytes = input.as_ref().map(|s| s.as_bytes());
    let data: &[u8] = bytes.as_deref().unwrap_or(&[]);
    let len = data.len();
    if offset < 0 || limit < 0 {
        return Err(format!(
            "Invalid request to unpack with offset of {offset} and limit of {len}."
        ));
    }
    if offset as u64 > len as u64 {
        return Err(format!(
            "Start offset {offset} greater than input length {len}."
        ));
    }
    let decode_all = limit == 0 && offset == 0;
    let limit = if decode_all { i64::MAX } else { limit };
    let mut c = MpCursor {
        data,
        pos: offset as usize,
    };
    let mut out = Vec::new();
    while c.pos < len && (out.len() as i64) < limit {
        if out.len() >= MSGPACK_UNPACK_RESULTS_MAX {
            return Err("stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)".to_string());
        }
        match mp_unpack_value(lua, &mut c, 0) {
            Ok(v) => out.push(v),
            Err(MpError::Eof) => return Err("Missing bytes in input.".to_string()),
            Err(MpError::BadFormat) => return Err("Bad data format in input.".to_string()),
            Err(MpError::Other(e)) => return Err(e),
        }
    }
    if !decode_all {
        let next = if c.pos >= len { -1.0 } else { c.pos as f64 };
        out.insert(0, Value::Number(next));
    }
    Ok(out)
}

/// An optional integer argument (`luaL_optinteger`).
fn opt_int(lua: &Lua, args: &[Value], i: usize, func: &str) -> Result<Option<i64>, String> {
    match args.get(i) {
        None | Some(Value::Nil) => Ok(None),
        Some(v) => to_number(lua, v)
            .map(|n| Some(n as i64))
            .ok_or_else(|| bad_number(i + 1, func, Some(v))),
    }
}

/// The raw `cmsgpack` table (functions return a status first).
fn cmsgpack_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                let msg = "bad argument #0 to 'pack' (MessagePack pack needs input.)";
                return wrap(lua, Err(msg.to_string()));
            }
            let mut enc = Encoder {
                lua,
                cfg: JsonConfig::default(),
                out: Vec::new(),
                cap: lua_headroom(lua)?,
            };
            for v in args.iter() {
                if let Err(e) = mp_pack_value(&mut enc, v, 0) {
                    return wrap(lua, Err(e));
                }
            }
            let s = lua.create_string(&enc.out)?;
            wrap(lua, Ok(vec![Value::String(s)]))
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            wrap(lua, mp_unpack(lua, "unpack", &args, 0, 0))
        })?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let r = opt_int(lua, &args, 1, "unpack_one")
                .and_then(|off| mp_unpack(lua, "unpack_one", &args, 1, off.unwrap_or(0)));
            wrap(lua, r)
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let r = match opt_int(lua, &args, 1, "unpack_limit") {
                Ok(Some(limit)) => opt_int(lua, &args, 2, "unpack_limit")
                    .and_then(|off| mp_unpack(lua, "unpack_limit", &args, limit, off.unwrap_or(0))),
                Ok(None) => Err(bad_number(2, "unpack_limit", args.get(1))),
                Err(e) => Err(e),
            };
            wrap(lua, r)
        })?,
    )?;
    t.raw_set("_NAME", "cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    Ok(t)
}

/// Sets the raw library tables as globals for the sandbox to wrap and
/// protect (it then clears every global).
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let g = lua.globals();
    g.raw_set("cjson", cjson_table(lua)?)?;
    g.raw_set("bit", bit_table(lua)?)?;
    g.raw_set("cmsgpack", cmsgpack_table(lua)?)?;
    g.raw_set("struct", crate::luastruct::struct_table(lua)?)?;
    Ok(())
}
