//! Scripts whose replies must equal Debian's redis-server 7.0.15 byte for
//! byte: the `struct` library (fixed cases, every error text, and a seeded
//! set of generated formats and values), `redis.call` with as many arguments
//! as `unpack` gives, numeric arguments, `redis.log`'s checks,
//! `cmsgpack.pack`'s argument limit and `cjson`'s nesting limit. Each script
//! runs on pubsubd and on a redis-server started on a free port (never
//! 6379); `test.sh` installs redis-server when it is missing.
//!
//! A library call whose error is compared is never the script's tail call
//! (`return (struct.pack(...))`): the sandbox's Lua wrapper around each
//! library function cannot see the position of a caller that tail-called
//! it, where Redis's C function still can (README, Differences).

mod common;

use std::time::{Duration, Instant};

use common::{Raw, ReferenceRedis, Rng, TestServer, show};

/// The generator's seed for the struct cases.
const SEED: u64 = 0x5747_0c7a;
/// Generated struct cases (each a pack, an unpack of its result and a size).
const GENERATED: usize = 400;
/// The whole comparison must finish within this.
const BUDGET: Duration = Duration::from_secs(120);

/// Both servers and a connection to each.
struct Pair {
    ours: Raw,
    theirs: Raw,
    _srv: TestServer,
    _reference: ReferenceRedis,
}

impl Pair {
    fn start() -> Pair {
        let srv = TestServer::start();
        let reference = ReferenceRedis::start();
        Pair {
            ours: srv.raw(),
            theirs: Raw::connect(&format!("127.0.0.1:{}", reference.port)),
            _srv: srv,
            _reference: reference,
        }
    }

    /// Runs `script` (EVAL with no keys) on both; returns the two replies.
    fn eval(&mut self, script: &str) -> (Vec<u8>, Vec<u8>) {
        let args: [&[u8]; 3] = [b"EVAL", script.as_bytes(), b"0"];
        (self.ours.call_args(&args), self.theirs.call_args(&args))
    }

    /// Runs `script` on both and records a difference in `diffs`.
    fn compare(&mut self, script: &str, diffs: &mut Vec<String>) -> Vec<u8> {
        let (ours, theirs) = self.eval(script);
        if ours != theirs {
            diffs.push(format!(
                "{script}\n  pubsubd: {}\n  redis:   {}",
                show(&ours),
                show(&theirs)
            ));
        }
        theirs
    }
}

fn assert_no_diffs(diffs: &[String]) {
    assert!(
        diffs.is_empty(),
        "{} replies differ from redis-server:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// A Lua string literal for `bytes`.
fn lua_literal(bytes: &[u8]) -> String {
    let mut s = String::from("'");
    for &b in bytes {
        s.push_str(&format!("\\{b}"));
    }
    s.push('\'');
    s
}

/// Returns packed bytes as hex so a reply shows them plainly; unpack
/// results are returned as a table of strings (numbers via %.17g).
const HELPERS: &str = "local function hex(s) return (string.gsub(s, '.', function(c) \
    return string.format('%02x', string.byte(c)) end)) end \
    local function all(...) local t = {} for i = 1, select('#', ...) do \
    local v = select(i, ...) t[i] = type(v) == 'number' and string.format('%.17g', v) or v end \
    return t end ";

/// Fixed struct cases: layouts, conversions at the edges, every error.
const STRUCT_CASES: &[&str] = &[
    "return hex(struct.pack('>I', 1))",
    "return hex(struct.pack('<i', -2))",
    "return hex(struct.pack('bBhHlLT', -1, 255, -300, 65535, -5, 7, 9))",
    "return hex(struct.pack('>bBhHlLT', -1, 255, -300, 65535, -5, 7, 9))",
    "return hex(struct.pack('i1i2i3i5i7i8i9i16i32', 1, -1, 70000, -70000, 2^40, -2^52, -1, -3, 5))",
    "return hex(struct.pack('>I3I16', 2^24 - 1, 2^63))",
    "return hex(struct.pack('i0', 5))",
    "return hex(struct.pack('fd', 1.5, -0.1))",
    "return hex(struct.pack('>fd', 1/0, -1/0))",
    "return hex(struct.pack('d', 0/0))",
    "return hex(struct.pack('L', 2^64))",
    "return hex(struct.pack('L', 2^63 + 2^62))",
    "return hex(struct.pack('l', -2^64))",
    "return hex(struct.pack('L', 0/0))",
    "return hex(struct.pack('B', 256.9))",
    "return hex(struct.pack('h', '12'))",
    "return hex(struct.pack('c3', 'abcdef'))",
    "return hex(struct.pack('c0', 'abc'))",
    "return hex(struct.pack('s', 'a\\0b'))",
    "return hex(struct.pack('c', 7))",
    "return hex(struct.pack(' xbxhx ', 1, 2))",
    "return hex(struct.pack('!bd', 1, 2))",
    "return hex(struct.pack('!4bdbhbi', 1, 2, 3, 4, 5, 6))",
    "return hex(struct.pack('!2bi3', 1, 2))",
    "return hex(struct.pack('!16bT!1bl', 1, 2, 3, 4))",
    "return hex(struct.pack('bc2i', 1, 'xy', 3))",
    "return hex(struct.pack(12))",
    "return hex(struct.pack('b\\0b', 1, 2))",
    "return hex(struct.pack(''))",
    "return (struct.pack('q', 1))",
    "return (struct.pack('b5', 1))",
    "return (struct.pack('b', 'x'))",
    "return (struct.pack('b'))",
    "return (struct.pack('d', {}))",
    "return (struct.pack('c5', 'ab'))",
    "return (struct.pack('bc5', 1, 'ab'))",
    "return (struct.pack('s', nil))",
    "return (struct.pack('i33', 1))",
    "return (struct.pack('i99999999999', 1))",
    "return (struct.pack('!3b', 1))",
    "return (struct.pack('!0b', 1))",
    "return (struct.pack())",
    "return (struct.pack(nil))",
    "return (struct.pack({}))",
    "return all(struct.unpack('>I', '\\0\\0\\1\\0'))",
    "return all(struct.unpack('bBhHlLT', struct.pack('bBhHlLT', -1, 255, -300, 65535, -5, 7, 9)))",
    "return all(struct.unpack('i3I3i9I9i16', string.rep('\\255', 3 + 3 + 9 + 9 + 16)))",
    "return all(struct.unpack('>i3I3i9I9', string.rep('\\128', 24)))",
    "return all(struct.unpack('i0I0', 'x'))",
    "return all(struct.unpack('fd', struct.pack('fd', 0.1, 0.1)))",
    "return all(struct.unpack('<f>f', '\\0\\0\\192\\127\\127\\192\\0\\0'))",
    "return all(struct.unpack('c2c0', 'ab'))",
    "return all(struct.unpack('bc0', '\\3abcd'))",
    "return all(struct.unpack('c1c0', '2xyz'))",
    "return all(struct.unpack('c1c0', 'zxyz'))",
    "return all(struct.unpack('c0', 'abc'))",
    "return all(struct.unpack('bc0', '\\9abc'))",
    "return all(struct.unpack('bc0', '\\255abc'))",
    "return all(struct.unpack('ss', 'ab\\0\\0c'))",
    "return all(struct.unpack('s', 'abc'))",
    "return all(struct.unpack('xbx', 'abc'))",
    "return all(struct.unpack('b', 'abc', 3))",
    "return all(struct.unpack('b', 'abc', 4))",
    "return all(struct.unpack('', 'abc', 10))",
    "return all(struct.unpack('<', 'abc', 10))",
    "return all(struct.unpack('b', 'abc', 0))",
    "return all(struct.unpack('b', 'abc', -1))",
    "return all(struct.unpack('', 'abc', -1))",
    "return all(struct.unpack('b', 'abc', 2.9))",
    "return all(struct.unpack('b', 'abc', '2'))",
    "return all(struct.unpack('b', 'abc', 'x'))",
    "return all(struct.unpack('b', 'abc', nil))",
    "return all(struct.unpack('!4bi', 'a\\0\\0\\0\\1\\0\\0\\0'))",
    "return all(struct.unpack('!4bi', 'a\\0\\0\\0\\1\\0\\0'))",
    "return all(struct.unpack('h', 'a'))",
    "return all(struct.unpack('b', 12))",
    "return all(struct.unpack('y', 'a'))",
    "return all(struct.unpack('b'))",
    "return all(struct.unpack())",
    "return all(struct.unpack('b', {}))",
    "return all(struct.unpack('i40', 'a'))",
    "return #{struct.unpack(string.rep('b', 7997), string.rep('a', 7997))}",
    "return #{struct.unpack(string.rep('b', 7998), string.rep('a', 7998))}",
    "return #{struct.unpack(string.rep('b', 7997), string.rep('a', 7997), 1)}",
    "return (struct.size('bhilLTfdxc3i7'))",
    "return (struct.size('!bhilLTfdxc3i7'))",
    "return (struct.size('>!2 b d'))",
    "return (struct.size('zq5'))",
    "return (struct.size(''))",
    "return (struct.size('s'))",
    "return (struct.size('bc0'))",
    "return (struct.size('b?'))",
    "return (struct.size('i33'))",
    "return (struct.size('!6'))",
    "return (struct.size(8))",
    "return (struct.size())",
    "return {pcall(function() local r = struct.pack('q') return r end)}",
    "return {pcall(function() local r = struct.unpack('b', '') return r end)}",
    "return type(struct)",
    "struct.pack = nil",
    "return (struct.nothing)",
];

#[test]
fn struct_library_matches_redis() {
    let started = Instant::now();
    let mut pair = Pair::start();
    let mut diffs = Vec::new();
    for case in STRUCT_CASES {
        pair.compare(&format!("{HELPERS}{case}"), &mut diffs);
    }
    // Generated formats and values: pack, unpack what was packed, size.
    const LETTERS: &[&str] = &[
        "b", "B", "h", "H", "l", "L", "T", "i", "I", "i1", "I2", "i3", "I5", "i8", "I9", "f", "d",
        "x", "c2", "s", " ", "<", ">", "!", "!1", "!2", "!4",
    ];
    const NUMBERS: &[&str] = &[
        "0", "1", "-1", "127", "-128", "255", "256", "65535", "-32769", "2^31", "-2^31", "2^32",
        "2^53", "-2^53", "2^63", "-2^63", "1.5", "-2.5", "0.1", "1e300", "-1e-300", "'42'",
    ];
    let mut rng = Rng(SEED);
    for _ in 0..GENERATED {
        let mut fmt = String::new();
        let mut values = Vec::new();
        for _ in 0..1 + rng.below(6) {
            let letter = rng.pick(LETTERS);
            fmt.push_str(letter);
            match letter.as_bytes()[0] {
                b'c' => {
                    let len = 2 + rng.below(2);
                    values.push(lua_literal(&rng.bytes(len)));
                }
                b's' => values.push(lua_literal(b"str")),
                b'x' | b' ' | b'<' | b'>' | b'!' => {}
                _ => values.push(rng.pick(NUMBERS).to_string()),
            }
        }
        let packed = format!("struct.pack('{fmt}', {})", values.join(", "));
        pair.compare(&format!("{HELPERS}return hex({packed})"), &mut diffs);
        pair.compare(
            &format!("{HELPERS}return all(struct.unpack('{fmt}', {packed}))"),
            &mut diffs,
        );
        if !fmt.contains('s') {
            pair.compare(&format!("return (struct.size('{fmt}'))"), &mut diffs);
        }
        assert!(started.elapsed() < BUDGET, "the comparison took too long");
    }
    assert_no_diffs(&diffs);
    // The server is still there and answering.
    pair.ours.expect_call("PING", b"+PONG\r\n");
}

/// Scripts about arguments, logging and the other libraries' limits.
const OTHER_CASES: &[&str] = &[
    "local a = {} for i = 1, 7999 do a[i] = 'k' .. i end return redis.call('exists', unpack(a))",
    "local a = {} for i = 1, 7999 do a[i] = 'k' end return redis.call('del', 'x', 'y', unpack(a))",
    "local a = {} for i = 1, 7999 do a[i] = i end return redis.pcall('mset', unpack(a))",
    "local a = {} for i = 1, 7998 do a[i] = i end a[1] = 'mset' return redis.pcall(unpack(a))",
    "local a = {} for i = 1, 8000 do a[i] = 'k' end return redis.call('exists', unpack(a))",
    "return redis.call('exists', 'a', nil, 'b')",
    "return redis.pcall('exists', 'a', {}, 'b')",
    "return redis.call()",
    "return redis.pcall()",
    "redis.call('set', 'n', 0.1) return redis.call('get', 'n')",
    "redis.call('set', 'n', 2^62) return redis.call('get', 'n')",
    "redis.call('set', 'n', -0.0) return redis.call('get', 'n')",
    "redis.call('set', 'n', 1/0) return redis.call('get', 'n')",
    "redis.call('set', 'n', 123456789012) return redis.call('get', 'n')",
    "redis.call('set', 'n', 1e-7) return redis.call('get', 'n')",
    "return redis.log(redis.LOG_WARNING)",
    "return redis.log('x', 'a')",
    "return redis.log(9, 'a')",
    "return redis.log(-1, 'a')",
    "return redis.log(-0.5, 'a')",
    "return redis.log(3.9, 'a', {}, 5)",
    "return redis.log('3', 'a')",
    "local a = {} for i = 1, 7999 do a[i] = 'k' end return redis.log(0, unpack(a))",
    "local a = {} for i = 1, 4001 do a[i] = 1 end return #cmsgpack.pack(unpack(a))",
    "local a = {} for i = 1, 4000 do a[i] = 1 end return #cmsgpack.pack(unpack(a))",
    "local d = 0 local t = cjson.decode(string.rep('[', 1000) .. string.rep(']', 1000)) \
     while type(t) == 'table' do d = d + 1 t = t[1] end return d",
    "local s = string.rep('{\"a\":', 1000) .. '1' .. string.rep('}', 1000) \
     local d = 0 local t = cjson.decode(s) while type(t) == 'table' do d = d + 1 t = t.a end \
     return {d, t}",
    "local s = string.rep('[{\"a\":', 500) .. '1' .. string.rep('}]', 500) \
     return #cjson.decode(s)",
    "local s = string.rep('[', 1001) .. string.rep(']', 1001) return #cjson.decode(s)",
    "local s = string.rep('{\"a\":', 1001) .. '1' .. string.rep('}', 1001) \
     return #cjson.decode(s)",
    "local s = '[\"[[\\\\\"{\",' .. string.rep('[', 1000) .. string.rep(']', 1001) \
     return #cjson.decode(s)",
    "cjson.decode_max_depth(5) local s = string.rep('[', 6) .. string.rep(']', 6) \
     local ok, e = pcall(cjson.decode, s) cjson.decode_max_depth(1000) return e",
];

#[test]
fn arguments_logging_and_library_limits_match_redis() {
    let mut pair = Pair::start();
    let mut diffs = Vec::new();
    for case in OTHER_CASES {
        pair.compare(case, &mut diffs);
    }
    assert_no_diffs(&diffs);
    pair.ours.expect_call("PING", b"+PONG\r\n");
}
