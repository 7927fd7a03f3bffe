//! Lua scripting: EVAL / EVALSHA / EVAL_RO / EVALSHA_RO, the SCRIPT
//! subcommands, the type conversions in both directions, error texts, the
//! sandbox, PUBLISH from a script, busy scripts and SCRIPT KILL, atomicity.
//!
//! Every expected byte string here was first checked against redis-server
//! 7.0.15 (`PUBSUBD_TEST_BIN=$(which redis-server)`), which is the reference.
//! Error texts raised inside a script end with `script: <sha1 of the body>,
//! on @user_script:<line>.`; the hashes below are those of the exact bodies.

mod common;

use common::{bulk, expect_args, show};

use common::{Raw, TestServer, message};
use std::time::Duration;

/// The EVAL-family request `cmd script numkeys keys... args...`.
fn eval_request(cmd: &str, script: &str, keys: &[&[u8]], args: &[&[u8]]) -> Vec<u8> {
    let n = keys.len().to_string();
    let mut v: Vec<&[u8]> = vec![cmd.as_bytes(), script.as_bytes(), n.as_bytes()];
    v.extend_from_slice(keys);
    v.extend_from_slice(args);
    common::cmd(&v)
}

/// Runs `EVAL script` with keys and args and asserts the exact reply.
fn expect_eval(c: &mut Raw, script: &str, keys: &[&[u8]], args: &[&[u8]], expected: &[u8]) {
    c.send(&eval_request("EVAL", script, keys, args));
    let got = c.reply();
    assert_eq!(show(&got), show(expected), "EVAL {script:?}");
}

/// Runs `EVAL script 0` and asserts the exact reply.
fn expect_eval0(c: &mut Raw, script: &str, expected: &[u8]) {
    expect_eval(c, script, &[], &[], expected);
}

/// The error a failing `redis.call` or runtime error raises out of a
/// one-line script whose body hashes to `sha`.
fn script_err(text: &str, sha: &str) -> Vec<u8> {
    format!("-{text} script: {sha}, on @user_script:1.\r\n").into_bytes()
}

/// Switches `c` to RESP3 (the HELLO reply itself is not checked here).
fn resp3(c: &mut Raw) {
    let r = c.call("HELLO 3");
    assert!(r.starts_with(b"%"), "HELLO 3 gave {:?}", show(&r));
}

/// Reads whole frames until exactly `expected.len()` bytes have arrived.
fn expect_stream(c: &mut Raw, expected: &[u8]) {
    let mut got = Vec::new();
    while got.len() < expected.len() {
        got.extend(c.reply());
    }
    assert_eq!(show(&got), show(expected));
}

// ---------------------------------------------------------------- Lua -> RESP

#[test]
fn lua_values_become_resp2_replies() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    // Numbers are truncated toward zero to integers.
    expect_eval0(&mut c, "return 3.99", b":3\r\n");
    expect_eval0(&mut c, "return -3.99", b":-3\r\n");
    expect_eval0(&mut c, "return 0.5", b":0\r\n");
    expect_eval0(&mut c, "return 42", b":42\r\n");
    expect_eval0(&mut c, "return tostring(1.5)", b"$3\r\n1.5\r\n");
    expect_eval0(&mut c, "return 'hi'", b"$2\r\nhi\r\n");
    expect_eval0(&mut c, "return ''", b"$0\r\n\r\n");
    expect_eval0(&mut c, "return true", b":1\r\n");
    expect_eval0(&mut c, "return false", b"$-1\r\n");
    expect_eval0(&mut c, "return nil", b"$-1\r\n");
    expect_eval0(&mut c, "return", b"$-1\r\n");
    // Tables are arrays up to the first nil; keyed fields are ignored.
    expect_eval0(&mut c, "return {1,2,nil,4}", b"*2\r\n:1\r\n:2\r\n");
    expect_eval0(&mut c, "return {}", b"*0\r\n");
    expect_eval0(&mut c, "return {a=1}", b"*0\r\n");
    expect_eval0(&mut c, "return {1.5, 2.7}", b"*2\r\n:1\r\n:2\r\n");
    expect_eval0(
        &mut c,
        "return {1,'a',{2,3},true,false}",
        b"*5\r\n:1\r\n$1\r\na\r\n*2\r\n:2\r\n:3\r\n:1\r\n$-1\r\n",
    );
    expect_eval0(
        &mut c,
        "return {'a', false, 'b'}",
        b"*3\r\n$1\r\na\r\n$-1\r\n$1\r\nb\r\n",
    );
    // ok / err tables and the helpers that build them.
    expect_eval0(&mut c, "return {ok='fine'}", b"+fine\r\n");
    expect_eval0(&mut c, "return {err='bad thing'}", b"-bad thing\r\n");
    expect_eval0(&mut c, "return {err='plain'}", b"-plain\r\n");
    expect_eval0(&mut c, "return redis.status_reply('OKAY')", b"+OKAY\r\n");
    expect_eval0(&mut c, "return redis.error_reply('MY err')", b"-MY err\r\n");
    // error_reply gives a code-less message the ERR code.
    expect_eval0(
        &mut c,
        "return redis.error_reply('plain')",
        b"-ERR plain\r\n",
    );
    expect_eval0(&mut c, "return redis.error_reply('-X y')", b"-X y\r\n");
    expect_eval0(
        &mut c,
        "return redis.sha1hex('')",
        b"$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n",
    );
    expect_eval0(
        &mut c,
        "return redis.sha1hex('abc')",
        b"$40\r\na9993e364706816aba3e25717850c26c9cd0d89d\r\n",
    );
}

#[test]
fn lua_values_become_resp3_replies() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    // Over RESP2, doubles are bulk text and maps flatten to arrays.
    expect_eval0(&mut c, "return {double=3.5}", b"$3\r\n3.5\r\n");
    expect_eval0(&mut c, "return {map={a=1}}", b"*2\r\n$1\r\na\r\n:1\r\n");
    // After redis.setresp(3), booleans are still :1 / :0 to a RESP2 client.
    expect_eval0(&mut c, "redis.setresp(3); return true", b":1\r\n");
    expect_eval0(&mut c, "redis.setresp(3); return false", b":0\r\n");
    resp3(&mut c);
    expect_eval0(&mut c, "return nil", b"_\r\n");
    expect_eval0(&mut c, "return false", b"_\r\n");
    expect_eval0(&mut c, "return true", b":1\r\n");
    expect_eval0(&mut c, "return {1,false}", b"*2\r\n:1\r\n_\r\n");
    expect_eval0(&mut c, "return 3.5", b":3\r\n");
    expect_eval0(&mut c, "return {double=3.5}", b",3.5\r\n");
    expect_eval0(&mut c, "return {map={a=1}}", b"%1\r\n$1\r\na\r\n:1\r\n");
    expect_eval0(&mut c, "return {set={a=true}}", b"~1\r\n$1\r\na\r\n");
    expect_eval0(&mut c, "redis.setresp(3); return true", b"#t\r\n");
    expect_eval0(&mut c, "redis.setresp(3); return false", b"#f\r\n");
    expect_eval0(&mut c, "return {ok='x'}", b"+x\r\n");
    expect_eval0(&mut c, "return {err='x'}", b"-x\r\n");
    expect_eval0(
        &mut c,
        "redis.setresp(4)",
        &script_err(
            "ERR RESP version must be 2 or 3.",
            "68e72e4d8a428b9f599dce492315f2455a425a82",
        ),
    );
}

// ---------------------------------------------------------------- RESP -> Lua

#[test]
fn redis_replies_become_lua_values() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let script = "\
        redis.call('set','s','str') \
        local out = {} \
        local i = redis.call('incr','n') \
        out[#out+1] = type(i) .. ':' .. tostring(i) \
        local b = redis.call('get','s') \
        out[#out+1] = type(b) .. ':' .. b \
        local nb = redis.call('get','missing') \
        out[#out+1] = type(nb) .. ':' .. tostring(nb) \
        local st = redis.call('set','x','1') \
        out[#out+1] = type(st) .. ':' .. st.ok \
        local arr = redis.call('mget','s','missing','n') \
        out[#out+1] = type(arr) .. ':' .. #arr .. ':' .. arr[1] .. ':' .. tostring(arr[2]) .. ':' .. arr[3] \
        local e = redis.pcall('incr','s') \
        out[#out+1] = type(e) .. ':' .. e.err \
        return out";
    expect_eval0(
        &mut c,
        script,
        b"*6\r\n$8\r\nnumber:1\r\n$10\r\nstring:str\r\n$13\r\nboolean:false\r\n$8\r\ntable:OK\r\n$19\r\ntable:3:str:false:1\r\n$49\r\ntable:ERR value is not an integer or out of range\r\n",
    );
    // A reply passed straight through comes back unchanged.
    expect_eval0(
        &mut c,
        "return redis.call('mget','s','missing')",
        b"*2\r\n$3\r\nstr\r\n$-1\r\n",
    );
    expect_eval0(&mut c, "return redis.call('ping')", b"+PONG\r\n");
    expect_eval0(&mut c, "return redis.call('get','missing')", b"$-1\r\n");
    // With redis.setresp(3) a null reply reaches Lua as nil, not false.
    expect_eval0(
        &mut c,
        "return tostring(redis.call('get','missing'))",
        b"$5\r\nfalse\r\n",
    );
    expect_eval0(
        &mut c,
        "redis.setresp(3); return tostring(redis.call('get','missing'))",
        b"$3\r\nnil\r\n",
    );
}

#[test]
fn call_raises_and_pcall_returns_the_error() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET k abc", b"+OK\r\n");
    expect_eval(
        &mut c,
        "return redis.call('incr',KEYS[1])",
        &[b"k"],
        &[],
        &script_err(
            "ERR value is not an integer or out of range",
            "6f5ade10a69975e903c6d07b10ea44c6382381a5",
        ),
    );
    expect_eval(
        &mut c,
        "return redis.pcall('incr',KEYS[1])",
        &[b"k"],
        &[],
        b"-ERR value is not an integer or out of range\r\n",
    );
    expect_eval0(
        &mut c,
        "local r = redis.pcall('incr','k'); return type(r) .. ':' .. r.err",
        b"$49\r\ntable:ERR value is not an integer or out of range\r\n",
    );
    expect_eval(
        &mut c,
        "return redis.call('set',KEYS[1],'1','EX','0')",
        &[b"k"],
        &[],
        &script_err(
            "ERR invalid expire time in 'set' command",
            "71fd8bb46b5ab954be0fe1e6a66672e6dd358c1d",
        ),
    );
    expect_eval0(
        &mut c,
        "return redis.call('nosuch')",
        &script_err(
            "ERR Unknown Redis command called from script",
            "206396248e12c6e742fd7296250433c8d7343b74",
        ),
    );
    expect_eval0(
        &mut c,
        "return redis.pcall('nosuch')",
        b"-ERR Unknown Redis command called from script\r\n",
    );
    expect_eval0(
        &mut c,
        "return redis.call('get')",
        &script_err(
            "ERR Wrong number of args calling Redis command from script",
            "f187dee77f607f7cff00bbabc9df38507582c78d",
        ),
    );
    expect_eval0(
        &mut c,
        "return redis.call()",
        &script_err(
            "ERR Please specify at least one argument for this redis lib call",
            "0a907e1429221a4d85516cab7fd219a82a9439d8",
        ),
    );
    expect_eval0(
        &mut c,
        "return redis.call('subscribe','x')",
        &script_err(
            "ERR This Redis command is not allowed from script",
            "2f334966be3d5602175118691c9d198b0a695e53",
        ),
    );
    // Plain Lua errors.
    expect_eval0(
        &mut c,
        "error('boom')",
        &script_err(
            "ERR user_script:1: boom",
            "82903a0434f1503e152f89c03c9acd881a0e8150",
        ),
    );
    expect_eval0(
        &mut c,
        "error({err='MYERR boom'})",
        &script_err("MYERR boom", "600444ab00b1281c55abc9ff7e35bea4f11a3742"),
    );
    expect_eval0(
        &mut c,
        "return 1 +",
        b"-ERR Error compiling script (new function): user_script:1: unexpected symbol near '<eof>'\r\n",
    );
    // The value was never changed, and the connection is fine.
    c.expect_call("GET k", b"$3\r\nabc\r\n");
}

#[test]
fn keys_and_argv_are_binary_safe() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let key: &[u8] = b"k\x00\xff\r\n";
    let val: &[u8] = b"\xff\x00v";
    let mut want = b"*5\r\n".to_vec();
    want.extend(bulk(key));
    want.extend(bulk(val));
    want.extend_from_slice(b":1\r\n:2\r\n");
    want.extend(bulk(val));
    expect_eval(
        &mut c,
        "redis.call('set', KEYS[1], ARGV[1]) \
         return {KEYS[1], ARGV[1], #KEYS, #ARGV, redis.call('get', KEYS[1])}",
        &[key],
        &[val, b""],
        &want,
    );
    // The script wrote exactly those bytes.
    let got = c.call_args(&[b"GET", key]);
    assert_eq!(show(&got), show(&bulk(val)));
    expect_eval(
        &mut c,
        "return {KEYS[1], ARGV[1], #KEYS, #ARGV}",
        &[b"k"],
        &[b"a", b"b"],
        b"*4\r\n$1\r\nk\r\n$1\r\na\r\n:1\r\n:2\r\n",
    );
    expect_eval(&mut c, "return #ARGV[1]", &[], &[val], b":3\r\n");
}

// ---------------------------------------------------------------- cache and arguments

#[test]
fn script_load_evalsha_exists_flush() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let sha = "1fa00e76656cc152ad327c13fe365858fd7be306"; // sha1("return 42")
    let noscript = b"-NOSCRIPT No matching script. Please use EVAL.\r\n";
    c.expect_call(&format!("EVALSHA {sha} 0"), noscript);
    c.expect_call(&format!("EVALSHA_RO {sha} 0"), noscript);
    c.expect_call("EVALSHA abc 0", noscript);
    c.expect_call(&format!("SCRIPT EXISTS {sha}"), b"*1\r\n:0\r\n");
    expect_args(
        &mut c,
        &[b"SCRIPT", b"LOAD", b"return 42"],
        format!("$40\r\n{sha}\r\n").as_bytes(),
    );
    c.expect_call(&format!("EVALSHA {sha} 0"), b":42\r\n");
    c.expect_call(&format!("EVALSHA {} 0", sha.to_uppercase()), b":42\r\n");
    c.expect_call(&format!("EVALSHA_RO {sha} 0"), b":42\r\n");
    c.expect_call(
        &format!(
            "SCRIPT EXISTS {sha} ffffffffffffffffffffffffffffffffffffffff {}",
            sha.to_uppercase()
        ),
        b"*3\r\n:1\r\n:0\r\n:1\r\n",
    );
    // Loading twice gives the same hash.
    expect_args(
        &mut c,
        &[b"SCRIPT", b"LOAD", b"return 42"],
        format!("$40\r\n{sha}\r\n").as_bytes(),
    );
    // Another connection sees the same cache.
    let mut other = srv.raw();
    other.expect_call(&format!("EVALSHA {sha} 0"), b":42\r\n");
    c.expect_call("SCRIPT FLUSH", b"+OK\r\n");
    c.expect_call(&format!("SCRIPT EXISTS {sha}"), b"*1\r\n:0\r\n");
    other.expect_call(&format!("EVALSHA {sha} 0"), noscript);
    // EVAL caches what it runs.
    expect_eval0(&mut c, "return 42", b":42\r\n");
    c.expect_call(&format!("EVALSHA {sha} 0"), b":42\r\n");
    c.expect_call("SCRIPT FLUSH ASYNC", b"+OK\r\n");
    c.expect_call("SCRIPT FLUSH SYNC", b"+OK\r\n");
    c.expect_call(
        "SCRIPT FLUSH FOO",
        b"-ERR SCRIPT FLUSH only support SYNC|ASYNC option\r\n",
    );
    c.expect_call(
        "SCRIPT EXISTS",
        b"-ERR wrong number of arguments for 'script|exists' command\r\n",
    );
    c.expect_call(
        "SCRIPT LOAD",
        b"-ERR wrong number of arguments for 'script|load' command\r\n",
    );
    c.expect_call(
        "SCRIPT FOO",
        b"-ERR unknown subcommand 'FOO'. Try SCRIPT HELP.\r\n",
    );
    // A script that does not compile is not cached.
    expect_args(
        &mut c,
        &[b"SCRIPT", b"LOAD", b"return +"],
        b"-ERR Error compiling script (new function): user_script:1: unexpected symbol near '+'\r\n",
    );
}

#[test]
fn numkeys_errors() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    expect_args(
        &mut c,
        &[b"EVAL", b"return 1", b"2", b"a"],
        b"-ERR Number of keys can't be greater than number of args\r\n",
    );
    expect_args(
        &mut c,
        &[b"EVAL", b"return 1", b"-1"],
        b"-ERR Number of keys can't be negative\r\n",
    );
    expect_args(
        &mut c,
        &[b"EVAL", b"return 1", b"x"],
        b"-ERR value is not an integer or out of range\r\n",
    );
    expect_args(
        &mut c,
        &[b"EVAL", b"return 1", b"1.5", b"a"],
        b"-ERR value is not an integer or out of range\r\n",
    );
    expect_args(
        &mut c,
        &[b"EVAL", b"return 1"],
        b"-ERR wrong number of arguments for 'eval' command\r\n",
    );
    c.expect_call(
        "EVALSHA 1fa00e76656cc152ad327c13fe365858fd7be306 3 a b",
        b"-ERR Number of keys can't be greater than number of args\r\n",
    );
    // numkeys equal to the argument count is fine.
    expect_args(
        &mut c,
        &[b"EVAL", b"return #KEYS", b"2", b"a", b"b"],
        b":2\r\n",
    );
}

#[test]
fn eval_ro_refuses_writes() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("SET a v", b"+OK\r\n");
    c.send(&eval_request(
        "EVAL_RO",
        "return redis.call('set',KEYS[1],'b')",
        &[b"a"],
        &[],
    ));
    c.expect(&script_err(
        "ERR Write commands are not allowed from read-only scripts.",
        "91dc92c70e55c0375a7afb9a7e8963b89bb7a930",
    ));
    c.send(&eval_request(
        "EVAL_RO",
        "return redis.pcall('set',KEYS[1],'b')",
        &[b"a"],
        &[],
    ));
    c.expect(b"-ERR Write commands are not allowed from read-only scripts.\r\n");
    c.send(&eval_request(
        "EVAL_RO",
        "return redis.call('get',KEYS[1])",
        &[b"a"],
        &[],
    ));
    c.expect(b"$1\r\nv\r\n");
    c.expect_call("GET a", b"$1\r\nv\r\n");
}

// ---------------------------------------------------------------- sandbox

#[test]
fn sandbox_hides_os_io_and_loaders() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    for (name, sha) in [
        ("os", "88bfcb2247db0b6fa4925f3cddc3fd0651459f99"),
        ("io", "918bbded8bab006be53c3db116d9c93508fc799a"),
        ("require", "a10ff9bcfafac54cee41502b0e65e31ab05862c3"),
        ("loadfile", "dc6fbc079d0e6ef2af8c376dda4f3d362fa30d87"),
        ("dofile", "f14b399205539f5db37113032a1a25c72b8c6743"),
    ] {
        expect_eval0(
            &mut c,
            &format!("return type({name})"),
            &script_err(
                &format!(
                    "ERR user_script:1: Script attempted to access nonexistent global variable '{name}'"
                ),
                sha,
            ),
        );
    }
    expect_eval0(
        &mut c,
        "return undefined_name",
        &script_err(
            "ERR user_script:1: Script attempted to access nonexistent global variable 'undefined_name'",
            "1ded03a7c12cea2cacfcf48adc173e038317c38f",
        ),
    );
    // Globals are read-only: no new variables, no new functions.
    expect_eval0(
        &mut c,
        "x = 1",
        &script_err(
            "ERR user_script:1: Attempt to modify a readonly table",
            "34bce5f775de97f557a34088509c8bfe1ea17e52",
        ),
    );
    expect_eval0(
        &mut c,
        "function f() end",
        &script_err(
            "ERR user_script:1: Attempt to modify a readonly table",
            "f37995b1d7c626139c9a239b83b074295e82ad29",
        ),
    );
    // Locals and the usual libraries are there.
    expect_eval0(&mut c, "local t = {}; t.x = 1; return t.x", b":1\r\n");
    expect_eval0(&mut c, "return string.rep('a', 3)", b"$3\r\naaa\r\n");
    expect_eval0(
        &mut c,
        "return type(string)..type(math)..type(table)",
        b"$15\r\ntabletabletable\r\n",
    );
    c.expect_call("PING", b"+PONG\r\n");
}

// ---------------------------------------------------------------- PUBLISH

#[test]
fn publish_from_a_script_reaches_subscribers() {
    let srv = TestServer::start();
    let mut sub = srv.raw();
    let mut c = srv.raw();
    sub.expect_call(
        "SUBSCRIBE ch",
        b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    );
    sub.expect_call(
        "PSUBSCRIBE c*",
        b"*3\r\n$10\r\npsubscribe\r\n$2\r\nc*\r\n:2\r\n",
    );
    let publish = "return redis.call('publish', ARGV[1], ARGV[2])";
    expect_eval(&mut c, publish, &[], &[b"ch", b"from lua"], b":2\r\n");
    let lua_frames = [sub.reply(), sub.reply()];
    // A client PUBLISH produces exactly the same frames.
    c.expect_call("PUBLISH ch x", b":2\r\n");
    expect_args(&mut c, &[b"PUBLISH", b"ch", b"from lua"], b":2\r\n");
    sub.reply();
    sub.reply();
    let client_frames = [sub.reply(), sub.reply()];
    assert_eq!(lua_frames, client_frames);
    assert_eq!(
        show(&lua_frames[0]),
        show(&message(false, b"ch", b"from lua"))
    );
    assert_eq!(
        show(&lua_frames[1]),
        "*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$8\r\nfrom lua\r\n"
    );
    expect_eval(&mut c, publish, &[], &[b"nobody", b"x"], b":0\r\n");
    sub.expect_nothing(Duration::from_millis(100));
}

#[test]
fn resp3_publish_to_own_channel_from_a_script() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    resp3(&mut c);
    c.expect_call(
        "SUBSCRIBE ch",
        b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
    );
    c.send(&eval_request(
        "EVAL",
        "return redis.call('publish', ARGV[1], ARGV[2])",
        &[],
        &[b"ch", b"lua"],
    ));
    let push = message(true, b"ch", b"lua");
    let mut want = Vec::new();
    if common::is_reference() {
        // Redis 7.0 writes the push as soon as PUBLISH runs, before the
        // EVAL reply.
        want.extend(&push);
        want.extend_from_slice(b":1\r\n");
    } else {
        // Redis 7.2 (which pubsubd follows) sends the EVAL reply first.
        want.extend_from_slice(b":1\r\n");
        want.extend(&push);
    }
    expect_stream(&mut c, &want);
    c.expect_nothing(Duration::from_millis(100));
}

// ---------------------------------------------------------------- busy scripts

#[test]
fn script_kill_when_nothing_runs() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call(
        "SCRIPT KILL",
        b"-NOTBUSY No scripts in execution right now.\r\n",
    );
}

#[test]
fn busy_script_can_be_killed() {
    let srv = TestServer::start();
    let mut runner = srv.raw();
    let mut other = srv.raw();
    other.expect_call("CONFIG SET busy-reply-threshold 100", b"+OK\r\n");
    other.expect_call(
        "CONFIG GET busy-reply-threshold",
        b"*2\r\n$20\r\nbusy-reply-threshold\r\n$3\r\n100\r\n",
    );
    // lua-time-limit is the old name of the same setting.
    other.expect_call(
        "CONFIG GET lua-time-limit",
        b"*2\r\n$14\r\nlua-time-limit\r\n$3\r\n100\r\n",
    );
    runner.send(&eval_request("EVAL", "while true do end", &[], &[]));
    std::thread::sleep(Duration::from_millis(300));
    let busy = b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";
    other.expect_call("PING", busy);
    other.expect_call("GET k", busy);
    other.expect_call("SET k v", busy);
    expect_eval0(&mut other, "return 1", busy);
    other.expect_call("SCRIPT KILL", b"+OK\r\n");
    runner.expect(&script_err(
        "ERR Script killed by user with SCRIPT KILL...",
        "694a5fe1ddb97a4c6a1bf299d9537c7d3d0f84e7",
    ));
    // Everyone is served again.
    other.expect_call("PING", b"+PONG\r\n");
    runner.expect_call("PING", b"+PONG\r\n");
    other.expect_call("EXISTS k", b":0\r\n");
    other.expect_call(
        "SCRIPT KILL",
        b"-NOTBUSY No scripts in execution right now.\r\n",
    );
}

#[test]
fn scripts_run_atomically() {
    let srv = TestServer::start();
    let mut runner = srv.raw();
    let mut other = srv.raw();
    runner.send(&eval_request(
        "EVAL",
        "for i = 1, tonumber(ARGV[1]) do redis.call('incr', KEYS[1]) end \
         return redis.call('get', KEYS[1])",
        &[b"counter"],
        &[b"300000"],
    ));
    // Sent while the script runs: it waits for the whole script.
    std::thread::sleep(Duration::from_millis(30));
    other.expect_call("INCR counter", b":300001\r\n");
    runner.expect(b"$6\r\n300000\r\n");
    other.expect_call("GET counter", b"$6\r\n300001\r\n");
}

/// FUNCTION FLUSH answers as Redis does with no libraries loaded (Redis's
/// own test harness sends it before every test file), with Redis's option
/// errors; FUNCTION needs a subcommand.
#[test]
fn function_flush_answers_as_redis() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect_call("FUNCTION FLUSH", b"+OK\r\n");
    c.expect_call("FUNCTION FLUSH async", b"+OK\r\n");
    c.expect_call("function flush SYNC", b"+OK\r\n");
    c.expect_call(
        "FUNCTION FLUSH x",
        b"-ERR FUNCTION FLUSH only supports SYNC|ASYNC option\r\n",
    );
    c.expect_call(
        "FUNCTION flush a b",
        b"-ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.\r\n",
    );
    c.expect_call(
        "FUNCTION",
        b"-ERR wrong number of arguments for 'function' command\r\n",
    );
    c.expect_call("MULTI", b"+OK\r\n");
    c.expect_call("FUNCTION FLUSH", b"+QUEUED\r\n");
    c.expect_call("EXEC", b"*1\r\n+OK\r\n");
}

/// `FUNCTION LOAD code` as one request.
fn function_load(c: &mut Raw, extra: &[&str], code: &str) -> Vec<u8> {
    let mut v: Vec<&[u8]> = vec![b"FUNCTION", b"LOAD"];
    v.extend(extra.iter().map(|e| e.as_bytes()));
    v.push(code.as_bytes());
    c.call_args(&v)
}

/// FUNCTION LOAD registers functions (positional and named forms, flags)
/// that FCALL and FCALL_RO run with their keys and arguments; REPLACE,
/// name clashes, bad metadata and bad registrations get Redis's errors;
/// FUNCTION FLUSH drops the libraries and SCRIPT FLUSH leaves them.
#[test]
fn function_load_and_fcall() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let lib = "#!lua name=mylib\n\
        redis.register_function('echo2', function(keys, args) return {keys[1], args[1], #keys, #args} end)\n\
        redis.register_function{function_name='getx', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}\n\
        redis.register_function('setx', function(keys, args) return redis.call('SET', keys[1], args[1]) end)";
    assert_eq!(
        show(&function_load(&mut c, &[], lib)),
        show(b"$5\r\nmylib\r\n")
    );
    c.expect_call(
        "FCALL echo2 1 k a b",
        b"*4\r\n$1\r\nk\r\n$1\r\na\r\n:1\r\n:2\r\n",
    );
    c.expect_call("FCALL setx 1 x 5", b"+OK\r\n");
    c.expect_call("FCALL_RO getx 1 x", b"$1\r\n5\r\n");
    c.expect_call(
        "FCALL_RO setx 1 x 6",
        b"-ERR Can not execute a script with write flag using *_ro command.\r\n",
    );
    c.expect_call("FCALL nosuch 0", b"-ERR Function not found\r\n");
    c.expect_call("FCALL echo2 x", b"-ERR Bad number of keys provided\r\n");
    c.expect_call(
        "FCALL echo2 3 a",
        b"-ERR Number of keys can't be greater than number of args\r\n",
    );
    assert_eq!(
        show(&function_load(&mut c, &[], lib)),
        show(b"-ERR Library 'mylib' already exists\r\n")
    );
    assert_eq!(
        show(&function_load(&mut c, &["REPLACE"], lib)),
        show(b"$5\r\nmylib\r\n")
    );
    let clash = "#!lua name=other\nredis.register_function('setx', function() return 1 end)";
    assert_eq!(
        show(&function_load(&mut c, &[], clash)),
        show(b"-ERR Function setx already exists\r\n")
    );
    for (code, err) in [
        ("return 1", "Missing library metadata"),
        ("#!lua name=a", "Invalid library metadata"),
        ("#!lua\nreturn 1", "Library name was not given"),
        (
            "#!lua name=a foo=b\nreturn 1",
            "Invalid metadata value given: foo=b",
        ),
        ("#!js name=a\nreturn 1", "Engine 'js' not found"),
        (
            "#!lua name=a-b\nreturn 1",
            "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ),
        ("#!lua name=a\nreturn 1", "No functions registered"),
        (
            "#!lua name=a\nredis.register_function('f')",
            "Error registering functions: ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).",
        ),
        (
            "#!lua name=a\nredis.register_function()",
            "Error registering functions: ERR wrong number of arguments to redis.register_function",
        ),
        (
            "#!lua name=a\nredis.register_function{function_name='f', callback=function() end, flags={'bad'}}",
            "Error registering functions: ERR unknown flag given",
        ),
        (
            "#!lua name=a\nredis.register_function('f', function() end)\nredis.register_function('f', function() end)",
            "Error registering functions: ERR Function already exists in the library",
        ),
        (
            "#!lua name=a\nlocal x = nil + 1",
            "Error registering functions: ERR user_function:2: attempt to perform arithmetic on a nil value",
        ),
        (
            "#!lua name=a\nreturn +",
            "Error compiling function: user_function:2: unexpected symbol near '+'",
        ),
    ] {
        assert_eq!(
            show(&function_load(&mut c, &[], code)),
            show(format!("-ERR {err}\r\n").as_bytes()),
            "{code:?}"
        );
    }
    c.expect_call(
        "FUNCTION LOAD REPLACE",
        b"-ERR Missing library metadata\r\n",
    );
    c.expect_call(
        "FUNCTION LOAD now code",
        b"-ERR Unknown option given: now\r\n",
    );
    c.expect_call("SCRIPT FLUSH", b"+OK\r\n");
    c.expect_call("FCALL_RO getx 1 x", b"$1\r\n5\r\n");
    c.expect_call("FUNCTION FLUSH", b"+OK\r\n");
    c.expect_call("FCALL_RO getx 1 x", b"-ERR Function not found\r\n");
}

/// A library body that never returns is stopped after Redis's load
/// timeout instead of holding the server forever.
#[test]
fn function_load_times_out() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    let got = function_load(&mut c, &[], "#!lua name=spin\nwhile true do end");
    assert_eq!(
        show(&got),
        show(b"-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n")
    );
    c.expect_call("PING", b"+PONG\r\n");
}

/// An EVAL shebang declares flags: bad engines, options and flags get
/// Redis's errors; `no-writes` makes the script read-only; a script that
/// may write is refused by EVAL_RO, and over maxmemory unless `allow-oom`.
#[test]
fn eval_shebang_flags() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    expect_eval0(&mut c, "#!lua\nreturn 1", b":1\r\n");
    expect_eval0(
        &mut c,
        "#!not-lua\nreturn 1",
        b"-ERR Unexpected engine in script shebang: #!not-lua\r\n",
    );
    expect_eval0(
        &mut c,
        "#!lua badger=data\nreturn 1",
        b"-ERR Unknown lua shebang option: badger=data\r\n",
    );
    expect_eval0(
        &mut c,
        "#!lua flags=allow-oom,what?\nreturn 1",
        b"-ERR Unexpected flag in script shebang: what?\r\n",
    );
    expect_eval0(&mut c, "#!lua", b"-ERR Invalid script shebang\r\n");
    expect_eval(
        &mut c,
        "#!lua flags=no-writes\nredis.call('set', KEYS[1], 1)",
        &[b"x"],
        &[],
        b"-ERR Write commands are not allowed from read-only scripts. script: b38f66ecb75283ab1340c4f197f5cc294705eb27, on @user_script:2.\r\n",
    );
    c.send(&eval_request("EVAL_RO", "#!lua\nreturn 1", &[], &[]));
    assert_eq!(
        show(&c.reply()),
        show(b"-ERR Can not execute a script with write flag using *_ro command.\r\n")
    );
    c.expect_call("SET x 123", b"+OK\r\n");
    c.expect_call("CONFIG SET maxmemory 1", b"+OK\r\n");
    expect_eval0(
        &mut c,
        "#!lua flags=\nreturn 1",
        b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
    );
    expect_eval(
        &mut c,
        "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], 1)",
        &[b"x"],
        &[],
        b"+OK\r\n",
    );
    expect_eval(
        &mut c,
        "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])",
        &[b"x"],
        &[],
        b"$1\r\n1\r\n",
    );
    c.expect_call("CONFIG SET maxmemory 0", b"+OK\r\n");
}

/// `redis.sha1hex` wants exactly one argument, CLUSTER RESET is refused
/// from a script before the standalone error (as in Redis), and INFO
/// memory counts the cached scripts, down to 0 after SCRIPT FLUSH.
#[test]
fn sha1hex_arity_cluster_reset_and_cached_script_count() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    expect_eval0(
        &mut c,
        "return redis.sha1hex()",
        &script_err(
            "ERR wrong number of arguments",
            "3c7ce947ae74a835cc575b6ee87fb27503cb7ba4",
        ),
    );
    expect_eval0(
        &mut c,
        "return redis.sha1hex('Pizza & Mandolino')",
        b"$40\r\n74822d82031af7493c20eefa13bd07ec4fada82f\r\n",
    );
    expect_eval0(
        &mut c,
        "return redis.call('cluster', 'reset', 'hard')",
        &script_err(
            "ERR This Redis command is not allowed from script",
            "2f652605b43a0cb0db77a1f3fd70d798a811612a",
        ),
    );
    c.expect_call("SCRIPT FLUSH", b"+OK\r\n");
    for j in 0..3 {
        let body = format!("return {j}");
        c.call_args(&[b"SCRIPT", b"LOAD", body.as_bytes()]);
    }
    let info = String::from_utf8_lossy(&c.call("INFO memory")).into_owned();
    assert!(info.contains("number_of_cached_scripts:3\r\n"), "{info}");
    c.expect_call("SCRIPT FLUSH ASYNC", b"+OK\r\n");
    let info = String::from_utf8_lossy(&c.call("INFO memory")).into_owned();
    assert!(info.contains("number_of_cached_scripts:0\r\n"), "{info}");
}

/// A busy function: other clients' BUSY names FUNCTION KILL, SCRIPT KILL
/// refuses to stop it and FUNCTION KILL stops it, as in Redis.
#[test]
fn busy_function_is_killed_by_function_kill() {
    let srv = TestServer::start();
    let mut runner = srv.raw();
    let mut other = srv.raw();
    other.expect_call("CONFIG SET busy-reply-threshold 100", b"+OK\r\n");
    let lib = "#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    assert_eq!(
        show(&function_load(&mut other, &[], lib)),
        show(b"$4\r\nspin\r\n")
    );
    runner.send(&common::cmds("FCALL spin 0"));
    std::thread::sleep(Duration::from_millis(300));
    let busy = b"-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n";
    other.expect_call("PING", busy);
    other.expect_call("SCRIPT KILL", busy);
    other.expect_call("FUNCTION KILL", b"+OK\r\n");
    // Redis names the line the function was on when killed (2 here);
    // pubsubd reports line 1 for a killed script (see README).
    let killed = show(&runner.reply());
    assert!(
        killed.starts_with(
            "-ERR Script killed by user with SCRIPT KILL... script: spin, on @user_function:"
        ),
        "{killed}"
    );
    other.expect_call("PING", b"+PONG\r\n");
    other.expect_call(
        "FUNCTION KILL",
        b"-NOTBUSY No scripts in execution right now.\r\n",
    );
}

// ------------------------------------------------------- bundled libraries

/// Runs a one-line script that fails with `text` raised at line 1 (Redis
/// puts the script position in front of a bundled library's error when the
/// call is no tail call).
fn expect_lib_err(c: &mut Raw, script: &str, text: &str) {
    let sha = sha1_smol::Sha1::from(script).digest().to_string();
    expect_eval0(
        c,
        script,
        &script_err(&format!("ERR user_script:1: {text}"), &sha),
    );
}

/// `cjson.encode` writes what lua-cjson writes in Redis: `%.14g` numbers,
/// `\/` escapes, `{}` for an empty table, arrays with holes as `null`,
/// and its error texts.
#[test]
fn cjson_encode_matches_redis() {
    let server = TestServer::start();
    let mut c = server.raw();
    expect_eval0(
        &mut c,
        "return cjson.encode({1,2,3,'a/b\\n\"\\1\\127',{x=1.5},{}})",
        &bulk(b"[1,2,3,\"a\\/b\\n\\\"\\u0001\\u007f\",{\"x\":1.5},{}]"),
    );
    expect_eval0(
        &mut c,
        "return cjson.encode({-1/3, 1e100, 0.1, 2^53, 123456789012345678, 0.000001, -0.0})",
        &bulk(b"[-0.33333333333333,1e+100,0.1,9.007199254741e+15,1.2345678901235e+17,1e-06,-0]"),
    );
    expect_eval0(
        &mut c,
        "return cjson.encode({nil, 2, cjson.null, true, false})",
        &bulk(b"[null,2,null,true,false]"),
    );
    expect_eval0(
        &mut c,
        "return cjson.encode({[1]='one', one=1})",
        &bulk(b"{\"1\":\"one\",\"one\":1}"),
    );
    expect_lib_err(
        &mut c,
        "local x = cjson.encode({[false]=1}) return x",
        "Cannot serialise boolean: table key must be a number or string",
    );
    expect_lib_err(
        &mut c,
        "local x = cjson.encode({[1]=1,[20]=2}) return x",
        "Cannot serialise table: excessively sparse array",
    );
    expect_lib_err(
        &mut c,
        "local x = cjson.encode(0/0) return x",
        "Cannot serialise number: must not be NaN or Inf",
    );
    expect_lib_err(
        &mut c,
        "local t = {} for i=1,1100 do t = {t} end local x = cjson.encode(t) return x",
        "Cannot serialise, excessive nesting (1001)",
    );
    expect_eval0(
        &mut c,
        "local ok, e = pcall(cjson.encode, function() end) return e",
        &bulk(b"Cannot serialise function: type not supported"),
    );
}

/// `cjson.decode` builds Lua values (numbers as doubles, null as
/// `cjson.null`) and fails with lua-cjson's texts.
#[test]
fn cjson_decode_matches_redis() {
    let server = TestServer::start();
    let mut c = server.raw();
    expect_eval0(
        &mut c,
        "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')",
        &bulk(b"0 -5000 -1 0.0003 1023.2 0"),
    );
    expect_eval0(
        &mut c,
        "local t = cjson.decode('{\"a\":[true,false,null],\"b\":\"\\\\u00e9\\\\/\"}') \
         return {tostring(t.a[1]), tostring(t.a[2]), tostring(t.a[3] == cjson.null), t.b}",
        b"*4\r\n$4\r\ntrue\r\n$5\r\nfalse\r\n$4\r\ntrue\r\n$3\r\n\xc3\xa9/\r\n",
    );
    expect_lib_err(
        &mut c,
        "local x = cjson.decode('x') return x",
        "Expected value but found invalid token at character 1",
    );
    expect_lib_err(
        &mut c,
        "local x = cjson.decode('{\"a\":1} x') return x",
        "Expected the end but found invalid token at character 9",
    );
    expect_lib_err(
        &mut c,
        "local x = cjson.decode() return x",
        "bad argument #1 to 'decode' (expected 1 argument)",
    );
    expect_eval0(
        &mut c,
        "cjson.decode_max_depth(2) local ok, e = pcall(cjson.decode, '[[[1]]]') \
         cjson.decode_max_depth(1000) return e",
        &bulk(b"Found too many nested data structures (3) at character 3"),
    );
}

/// The `cjson` settings keep lua-cjson's defaults and return types, and
/// last as long as the Lua state.
#[test]
fn cjson_settings_match_redis() {
    let server = TestServer::start();
    let mut c = server.raw();
    expect_eval0(
        &mut c,
        "return {cjson.encode_max_depth(), cjson.decode_max_depth(), \
         cjson.encode_invalid_numbers(), cjson.encode_keep_buffer(), \
         cjson.encode_number_precision(), cjson.encode_sparse_array()}",
        b"*8\r\n:1000\r\n:1000\r\n$-1\r\n:1\r\n:14\r\n$-1\r\n:2\r\n:10\r\n",
    );
    expect_eval0(
        &mut c,
        "cjson.encode_invalid_numbers(true) cjson.encode_number_precision(3) return 1",
        b":1\r\n",
    );
    expect_eval0(
        &mut c,
        "local x = cjson.encode({0/0, 1/0, 1/3}) \
         cjson.encode_invalid_numbers('null') local y = cjson.encode({1/0}) \
         cjson.encode_invalid_numbers(false) cjson.encode_number_precision(14) return {x, y}",
        b"*2\r\n$15\r\n[nan,inf,0.333]\r\n$6\r\n[null]\r\n",
    );
}

/// `bit` is LuaBitOp: 32-bit signed results, numbers wrapped modulo 2^32,
/// shift counts modulo 32.
#[test]
fn bit_matches_redis() {
    let server = TestServer::start();
    let mut c = server.raw();
    expect_eval0(
        &mut c,
        "return {bit.tobit(2^32+5), bit.tobit(-1), bit.bnot(0), bit.band(0xff, 0x0f0), \
         bit.bor(1,2,4,8,16,32,64,128), bit.bxor(1,3), bit.lshift(1,31), bit.rshift(-1,28), \
         bit.arshift(-256,4), bit.rol(1,33), bit.ror(1,1), bit.bswap(0x12345678), \
         bit.tobit('12')}",
        b"*13\r\n:5\r\n:-1\r\n:-1\r\n:240\r\n:255\r\n:2\r\n:-2147483648\r\n:15\r\n:-16\r\n\
:2\r\n:-2147483648\r\n:2018915346\r\n:12\r\n",
    );
    expect_eval0(
        &mut c,
        "return {bit.tohex(255), bit.tohex(-1, -4), bit.tohex(0x1234, 2), bit.tohex(1, 20)}",
        b"*4\r\n$8\r\n000000ff\r\n$4\r\nFFFF\r\n$2\r\n34\r\n$8\r\n00000001\r\n",
    );
    expect_lib_err(
        &mut c,
        "local x = bit.band({}) return x",
        "bad argument #1 to 'band' (number expected, got table)",
    );
    expect_lib_err(
        &mut c,
        "local x = bit.tobit() return x",
        "bad argument #1 to 'tobit' (number expected, got no value)",
    );
}

/// The library tables are read-only like `string` and `math`.
#[test]
fn library_tables_are_read_only() {
    let server = TestServer::start();
    let mut c = server.raw();
    for script in [
        "cjson.encode = 1",
        "bit.band = 1",
        "cjson.null = 1",
        "cmsgpack.pack = 1",
    ] {
        expect_lib_err(&mut c, script, "Attempt to modify a readonly table");
    }
}

/// Lua code that hex-dumps the string `e` as the script's reply.
const HEX: &str =
    "local h = '' for i = 1, #e do h = h .. string.format('%02x', string.byte(e, i)) end return h";

/// `cmsgpack.pack` picks lua-cmsgpack's encodings: the smallest integer
/// form, float32 when exact, arrays only for keys 1..n, nil for types it
/// cannot write and for tables nested past 16 levels.
#[test]
fn cmsgpack_pack_matches_redis() {
    let server = TestServer::start();
    let mut c = server.raw();
    expect_eval0(
        &mut c,
        &format!(
            "local e = cmsgpack.pack(0.1, 1.5, -1099511627776, 2^63, 2^64, 0/0, 1/0, 200, \
             -100, 70000, -40000, -3147483648, 4294967296, true, false, nil, function() end) {HEX}"
        ),
        &bulk(
            b"cb3fb999999999999aca3fc00000d3ffffff0000000000ca5f000000ca5f800000cbfff8000000000000\
ca7f800000ccc8d09cce00011170d2ffff63c0d3ffffffff44653600cf0000000100000000c3c2c0c0",
        ),
    );
    expect_eval0(
        &mut c,
        &format!(
            "local e = cmsgpack.pack({{1,2,3}}, {{}}, {{[1]=1,[3]=3}}, string.rep('x', 31), \
             string.rep('x', 32)) {HEX}"
        ),
        &bulk(
            b"93010203908201010303bf78787878787878787878787878787878787878787878787878787878787878\
d9207878787878787878787878787878787878787878787878787878787878787878",
        ),
    );
    expect_eval0(
        &mut c,
        "local a = {y=5} a.x = {x=a} local e = cmsgpack.pack(a) return #e",
        b":73\r\n",
    );
    expect_lib_err(
        &mut c,
        "local x = cmsgpack.pack() return x",
        "bad argument #0 to 'pack' (MessagePack pack needs input.)",
    );
}

/// `cmsgpack.unpack` returns every value of a stream; `unpack_one` and
/// `unpack_limit` return the next offset (-1 at the end) first.
#[test]
fn cmsgpack_unpack_matches_redis() {
    let server = TestServer::start();
    let mut c = server.raw();
    expect_eval0(
        &mut c,
        "local a, b, t, d = cmsgpack.unpack(cmsgpack.pack(1, 'a', {1, 2, {x=3}}, true)) \
         return {a, b, t[2], t[3].x, tostring(d)}",
        b"*5\r\n:1\r\n$1\r\na\r\n:2\r\n:3\r\n$4\r\ntrue\r\n",
    );
    expect_eval0(
        &mut c,
        "return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}",
        b"*3\r\n:2\r\n:1\r\n:2\r\n",
    );
    expect_eval0(
        &mut c,
        "return {cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}",
        b"*2\r\n:-1\r\n:3\r\n",
    );
    expect_lib_err(
        &mut c,
        "local x = cmsgpack.unpack('\\145') return x",
        "Missing bytes in input.",
    );
    expect_lib_err(
        &mut c,
        "local x = cmsgpack.unpack('\\193') return x",
        "Bad data format in input.",
    );
    expect_lib_err(
        &mut c,
        "local x = cmsgpack.unpack_one('abc', 5) return x",
        "Start offset 5 greater than input length 3.",
    );
    expect_lib_err(
        &mut c,
        "local x = cmsgpack.unpack() return x",
        "bad argument #1 to 'unpack' (string expected, got no value)",
    );
    let script = "local x = cmsgpack.unpack('\\129\\192\\1') return x";
    let sha = sha1_smol::Sha1::from(script).digest().to_string();
    expect_eval0(&mut c, script, &script_err("ERR table index is nil", &sha));
}
