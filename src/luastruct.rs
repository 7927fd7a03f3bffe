//! The `struct` library Redis bundles into its Lua sandbox (Roberto
//! Ierusalimschy's struct 0.2 with Redis's bounds checks): `struct.pack`,
//! `struct.unpack` and `struct.size`, with the byte layout, numeric
//! conversions and error texts of Redis 7.0's x86-64 build (native order
//! little-endian; `short` 2 bytes, `int` 4, `long` and `size_t` 8, default
//! alignment bound 8). `tests/scripting_struct.rs` compares them with
//! redis-server byte for byte.
//!
//! Format letters: ` ` (ignored), `>` `<` (byte order), `!n` (alignment
//! bound, a power of two; `!` alone is 8), `x` (a zero byte), `b B h H l L T`
//! (integers of C's sizes, lower case signed), `in` `In` (integers of n
//! bytes, at most [`STRUCT_INT_MAX`]; `i` alone is 4), `f` `d` (float,
//! double), `cn` (n bytes of a string; `c0` the whole string, or on unpack
//! as many bytes as the value before it says), `s` (a zero-terminated
//! string). Like the C code, a format ends at its first zero byte.

use mlua::{Lua, LuaString, MultiValue, Table, Value};

use crate::lualibs::{LibResult, bad_number, lua_headroom, to_number, type_name, wrap};

/// Largest integer size (`in`/`In`), the C library's `MAXINTSIZE`. Values
/// are computed in 64 bits: larger sizes are padded with zero bytes on
/// pack and keep only 64 bits on unpack, as in the C code.
pub const STRUCT_INT_MAX: usize = 32;

/// The default alignment bound of `!` alone: the alignment of a C double
/// on x86-64 (the C library's `MAXALIGN`).
const MAX_ALIGN: usize = 8;

/// Most values Lua's C stack holds for one call (`LUAI_MAXCSTACK`):
/// `struct.unpack` stops with "too many results" before it would pass it.
const LUA_C_STACK_MAX: usize = 8000;

/// Byte order and alignment bound, as the format's control letters set them.
struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: true,
            align: 1,
        }
    }
}

/// A format string being read, up to its first zero byte.
struct Format<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Format<'a> {
    fn new(fmt: &'a [u8]) -> Self {
        let end = fmt.iter().position(|&b| b == 0).unwrap_or(fmt.len());
        Format {
            bytes: &fmt[..end],
            at: 0,
        }
    }

    fn next_letter(&mut self) -> Option<u8> {
        let b = self.bytes.get(self.at).copied();
        self.at += usize::from(b.is_some());
        b
    }

    /// The number written after a letter, or `default` when there is none.
    fn number(&mut self, default: usize) -> Result<usize, String> {
        let mut n: usize = 0;
        let mut any = false;
        while let Some(&d) = self.bytes.get(self.at).filter(|b| b.is_ascii_digit()) {
            let d = usize::from(d - b'0');
            // The C code keeps it in an int.
            if n > (i32::MAX as usize) / 10 || n * 10 > i32::MAX as usize - d {
                return Err("integral size overflow".into());
            }
            n = n * 10 + d;
            self.at += 1;
            any = true;
        }
        Ok(if any { n } else { default })
    }
}

/// The size a letter occupies (0 for control letters and `s`).
fn letter_size(letter: u8, fmt: &mut Format) -> Result<usize, String> {
    Ok(match letter {
        b'B' | b'b' => 1,
        b'H' | b'h' => 2,
        b'L' | b'l' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => fmt.number(1)?,
        b'i' | b'I' => {
            let size = fmt.number(4)?;
            if size > STRUCT_INT_MAX {
                return Err(format!(
                    "integral size {size} is larger than limit of {STRUCT_INT_MAX}"
                ));
            }
            size
        }
        _ => 0,
    })
}

/// Padding needed before an item of `size` bytes at offset `len`. The C
/// code's arithmetic, kept for sizes that are not powers of two.
fn padding(len: usize, h: &Header, letter: u8, size: usize) -> usize {
    if size == 0 || letter == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    size.wrapping_sub(len & size.wrapping_sub(1)) & size.wrapping_sub(1)
}

/// Applies a control letter (or refuses an unknown one).
fn control(letter: u8, fmt: &mut Format, h: &mut Header, func: &str) -> Result<(), String> {
    match letter {
        b' ' => {}
        b'>' => h.little = false,
        b'<' => h.little = true,
        b'!' => {
            let a = fmt.number(MAX_ALIGN)?;
            if !a.is_power_of_two() {
                return Err(format!("alignment {a} is not a power of 2"));
            }
            h.align = a;
        }
        other => {
            return Err(format!(
                "bad argument #1 to '{func}' (invalid format option '{}')",
                char::from(other)
            ));
        }
    }
    Ok(())
}

/// `luaL_checklstring`: a string, or a number as Lua writes it.
fn check_bytes(lua: &Lua, args: &[Value], i: usize, func: &str) -> Result<LuaString, String> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(v @ (Value::Integer(_) | Value::Number(_))) => lua
            .coerce_string(v.clone())
            .ok()
            .flatten()
            .ok_or_else(|| bad_string(i + 1, func, Some(v))),
        v => Err(bad_string(i + 1, func, v)),
    }
}

fn bad_string(arg: usize, func: &str, v: Option<&Value>) -> String {
    let got = v.map(type_name).unwrap_or("no value");
    format!("bad argument #{arg} to '{func}' (string expected, got {got})")
}

/// `luaL_checknumber`.
fn check_number(lua: &Lua, args: &[Value], i: usize, func: &str) -> Result<f64, String> {
    args.get(i)
        .and_then(|v| to_number(lua, v))
        .ok_or_else(|| bad_number(i + 1, func, args.get(i)))
}

/// A double as the C code turns it into the 64 bits it packs: through a
/// signed conversion when negative, an unsigned one otherwise (x86-64's
/// conversions give 0x8000000000000000 for a NaN or a value out of the
/// signed range, and 0 for one past the unsigned range).
fn integer_bits(n: f64) -> u64 {
    if n.is_nan() {
        1 << 63
    } else if n < 0.0 {
        if n >= -9_223_372_036_854_775_808.0 {
            n as i64 as u64
        } else {
            1 << 63
        }
    } else if n < 18_446_744_073_709_551_616.0 {
        n as u64
    } else {
        0
    }
}

/// How far `pack`'s output, built outside the Lua heap, may grow: as far as
/// the heap itself still could (`lua-memory-limit`), once its garbage is
/// collected.
struct Room<'a> {
    lua: &'a Lua,
    cap: usize,
    collected: bool,
}

impl<'a> Room<'a> {
    fn new(lua: &'a Lua) -> Result<Self, String> {
        Ok(Room {
            lua,
            cap: lua_headroom(lua).map_err(|e| e.to_string())?,
            collected: false,
        })
    }

    fn check(&mut self, len: usize) -> Result<(), String> {
        if len > self.cap && !self.collected {
            self.collected = true;
            self.lua.gc_collect().map_err(|e| e.to_string())?;
            self.cap = lua_headroom(self.lua).map_err(|e| e.to_string())?;
        }
        if len > self.cap {
            return Err("not enough memory".into());
        }
        Ok(())
    }
}

fn pack(lua: &Lua, args: &[Value]) -> LibResult {
    let fmt = check_bytes(lua, args, 0, "pack")?;
    let fmt = fmt.as_bytes();
    let mut room = Room::new(lua)?;
    // The C code then pushes a nil after the arguments: a value missing
    // right after them is reported as nil, later ones as no value.
    let mut args = args.to_vec();
    args.push(Value::Nil);
    let args = &args[..];
    let mut fmt = Format::new(&fmt);
    let mut h = Header::default();
    let mut out: Vec<u8> = Vec::new();
    let mut arg = 1;
    while let Some(letter) = fmt.next_letter() {
        let mut size = letter_size(letter, &mut fmt)?;
        let pad = padding(out.len(), &h, letter, size);
        out.resize(out.len() + pad, 0);
        room.check(out.len() + size)?;
        match letter {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let mut value = integer_bits(check_number(lua, args, arg, "pack")?);
                arg += 1;
                let mut bytes = vec![0u8; size];
                for b in bytes.iter_mut() {
                    *b = value as u8;
                    value >>= 8;
                }
                if !h.little {
                    bytes.reverse();
                }
                out.extend_from_slice(&bytes);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = check_number(lua, args, arg, "pack")? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    f.to_le_bytes()
                } else {
                    f.to_be_bytes()
                });
            }
            b'd' => {
                let d = check_number(lua, args, arg, "pack")?;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    d.to_le_bytes()
                } else {
                    d.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = check_bytes(lua, args, arg, "pack")?;
                let s = s.as_bytes();
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // The C code names the argument after the string.
                    return Err(format!(
                        "bad argument #{} to 'pack' (string too short)",
                        arg + 1
                    ));
                }
                room.check(out.len() + size + 1)?;
                out.extend_from_slice(&s[..size]);
                if letter == b's' {
                    out.push(0);
                }
            }
            other => control(other, &mut fmt, &mut h, "pack")?,
        }
    }
    let s = lua.create_string(&out).map_err(|e| e.to_string())?;
    Ok(vec![Value::String(s)])
}

/// Reads `size` bytes as an integer of 64 bits, as the C code does (larger
/// sizes keep their last 64 bits read).
fn read_integer(bytes: &[u8], little: bool, signed: bool, size: usize) -> f64 {
    let mut l: u64 = 0;
    if little {
        for &b in bytes.iter().rev() {
            l = (l << 8) | u64::from(b);
        }
    } else {
        for &b in bytes {
            l = (l << 8) | u64::from(b);
        }
    }
    if !signed {
        return l as f64;
    }
    // x86-64 shifts by the count modulo 64 (the C code shifts by -1 for
    // size 0 and by more than 63 for sizes above 8).
    let mask = u64::MAX.wrapping_shl((size as u32).wrapping_mul(8).wrapping_sub(1));
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

fn unpack(lua: &Lua, args: &[Value]) -> LibResult {
    let fmt = check_bytes(lua, args, 0, "unpack")?;
    let fmt = fmt.as_bytes();
    let data = check_bytes(lua, args, 1, "unpack")?;
    let data = data.as_bytes();
    let ld = data.len();
    // luaL_optinteger, kept in a size_t: a negative offset wraps around.
    let pos = match args.get(2) {
        None | Some(Value::Nil) => 1u64,
        Some(v) => match to_number(lua, v) {
            Some(n) => n as i64 as u64,
            None => return Err(bad_number(3, "unpack", Some(v))),
        },
    };
    if pos == 0 {
        return Err("bad argument #3 to 'unpack' (offset must be 1 or greater)".into());
    }
    let mut pos = (pos - 1) as usize;
    let short = || "bad argument #2 to 'unpack' (data string too short)".to_string();
    let mut fmt = Format::new(&fmt);
    let mut h = Header::default();
    let mut results: Vec<Value> = Vec::new();
    while let Some(letter) = fmt.next_letter() {
        let mut size = letter_size(letter, &mut fmt)?;
        pos = pos.wrapping_add(padding(pos, &h, letter, size));
        if !(size <= ld && pos <= ld - size) {
            return Err(short());
        }
        if args.len() + results.len() + 2 > LUA_C_STACK_MAX {
            return Err("stack overflow (too many results)".into());
        }
        let at = &data[pos..];
        match letter {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = read_integer(&at[..size], h.little, letter.is_ascii_lowercase(), size);
                results.push(Value::Number(n));
            }
            b'x' => {}
            b'f' => {
                let b: [u8; 4] = [at[0], at[1], at[2], at[3]];
                let f = if h.little {
                    f32::from_le_bytes(b)
                } else {
                    f32::from_be_bytes(b)
                };
                results.push(Value::Number(f64::from(f)));
            }
            b'd' => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&at[..8]);
                let d = if h.little {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                };
                results.push(Value::Number(d));
            }
            b'c' => {
                if size == 0 {
                    let n = results.last().and_then(|v| to_number(lua, v));
                    let Some(n) = n else {
                        return Err("format 'c0' needs a previous size".into());
                    };
                    results.pop();
                    size = integer_bits(n) as usize;
                    if !(size <= ld && pos <= ld - size) {
                        return Err(short());
                    }
                }
                let s = lua
                    .create_string(&data[pos..pos + size])
                    .map_err(|e| e.to_string())?;
                results.push(Value::String(s));
            }
            b's' => {
                let Some(end) = at.iter().position(|&b| b == 0) else {
                    return Err("unfinished string in data".into());
                };
                size = end + 1;
                let s = lua.create_string(&at[..end]).map_err(|e| e.to_string())?;
                results.push(Value::String(s));
            }
            other => control(other, &mut fmt, &mut h, "unpack")?,
        }
        pos = pos.wrapping_add(size);
    }
    // The next position, as lua_pushinteger writes the size_t.
    results.push(Value::Number((pos as u64).wrapping_add(1) as i64 as f64));
    Ok(results)
}

fn size(lua: &Lua, args: &[Value]) -> LibResult {
    let fmt = check_bytes(lua, args, 0, "size")?;
    let fmt = fmt.as_bytes();
    let mut fmt = Format::new(&fmt);
    let mut h = Header::default();
    let mut pos: usize = 0;
    while let Some(letter) = fmt.next_letter() {
        let size = letter_size(letter, &mut fmt)?;
        pos = pos.wrapping_add(padding(pos, &h, letter, size));
        if letter == b's' {
            return Err("bad argument #1 to 'size' (option 's' has no fixed size)".into());
        }
        if letter == b'c' && size == 0 {
            return Err("bad argument #1 to 'size' (option 'c0' has no fixed size)".into());
        }
        if !letter.is_ascii_alphanumeric() {
            control(letter, &mut fmt, &mut h, "size")?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(vec![Value::Number(pos as i64 as f64)])
}

/// One of the library's functions, over its arguments.
type LibFn = fn(&Lua, &[Value]) -> LibResult;

/// `unpack`'s values in one table: a host function cannot return as many
/// values as the C library can (7,998), the sandbox's wrapper unpacks it.
fn unpack_table(lua: &Lua, args: &[Value]) -> LibResult {
    let values = unpack(lua, args)?;
    let t = lua
        .create_table_with_capacity(values.len(), 0)
        .map_err(|e| e.to_string())?;
    for (i, v) in values.into_iter().enumerate() {
        t.raw_set(i + 1, v).map_err(|e| e.to_string())?;
    }
    Ok(vec![Value::Table(t)])
}

/// The raw `struct` table (functions return a status first, as the other
/// bundled libraries' do; the sandbox raises the message).
pub fn struct_table(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let funcs: [(&str, LibFn); 3] = [("pack", pack), ("unpack", unpack_table), ("size", size)];
    for (name, f) in funcs {
        t.raw_set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let args: Vec<Value> = args.into_iter().collect();
                wrap(lua, f(lua, &args))
            })?,
        )?;
    }
    Ok(t)
}
