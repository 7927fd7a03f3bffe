//! The command table: every command's name, arity, flags, handler and the
//! documentation COMMAND INFO / COMMAND DOCS report. Commands are data, and
//! [`super::dispatch`] is the one place that checks requests against them.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::Handler;

/// Command flags. The first group is reported by COMMAND INFO under Redis's
/// names; the second is internal.
pub mod flags {
    /// Changes data.
    pub const WRITE: u32 = 1 << 0;
    /// Only reads data.
    pub const READONLY: u32 = 1 << 1;
    /// Administrative.
    pub const ADMIN: u32 = 1 << 2;
    /// Pub/sub related.
    pub const PUBSUB: u32 = 1 << 3;
    /// Not allowed from scripts.
    pub const NOSCRIPT: u32 = 1 << 4;
    /// Allowed while loading.
    pub const LOADING: u32 = 1 << 5;
    /// Allowed on a stale replica.
    pub const STALE: u32 = 1 << 6;
    /// O(1) or O(log N).
    pub const FAST: u32 = 1 << 7;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 8;
    /// Allowed while a script runs too long.
    pub const ALLOW_BUSY: u32 = 1 << 9;
    /// May be propagated.
    pub const MAY_REPLICATE: u32 = 1 << 10;
    /// Not allowed inside MULTI.
    pub const NO_MULTI: u32 = 1 << 11;
    /// Refused while over `maxmemory`.
    pub const DENYOOM: u32 = 1 << 12;
    /// Not shown to MONITOR after it runs (scripts show themselves first).
    pub const SKIP_MONITOR: u32 = 1 << 13;
    /// Never logged in the slow log.
    pub const SKIP_SLOWLOG: u32 = 1 << 14;
    /// Allowed in RESP2 subscribed mode (internal).
    pub const SUBSCRIBED_OK: u32 = 1 << 16;
    /// May push to the calling client itself: earlier replies are flushed
    /// first so the order matches Redis (internal).
    pub const MAY_PUSH: u32 = 1 << 17;
    /// A container that handles unknown subcommands itself (internal).
    pub const ANY_SUBCOMMAND: u32 = 1 << 18;
    /// Reaches the keyspace (or the script engine) without being `write` or
    /// `readonly`: dispatch holds the keyspace for it, as for those
    /// (internal).
    pub const KEYSPACE: u32 = 1 << 19;

    /// Redis's names for the reported flags, in the order Redis 7.0 reports
    /// them (it hides `may_replicate`).
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

use flags::*;

/// One command or subcommand.
pub struct Command {
    /// Lower-case name (for a subcommand, its own part: `list`).
    pub name: &'static str,
    /// Redis arity: N means exactly N words (including the name), -N at
    /// least N.
    pub arity: i32,
    /// Bit set of [`flags`].
    pub flags: u32,
    /// The handler; None for a container that needs a subcommand.
    pub handler: Option<Handler>,
    /// Subcommands of a container (CLIENT, CONFIG, ...).
    pub subcommands: &'static [Command],
    /// COMMAND DOCS group.
    pub group: &'static str,
    /// Redis version that introduced it.
    pub since: &'static str,
    /// One-line summary.
    pub summary: &'static str,
    /// Argument synopsis (`channel [channel ...]`), the source of the
    /// `arguments` COMMAND DOCS reports for redis-cli's hints.
    pub args: &'static str,
}

impl Command {
    /// The subcommand named `name` (any case).
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static Command> {
        self.subcommands
            .iter()
            .find(|c| c.name.as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Whether `argc` words satisfy `arity`.
pub fn arity_ok(arity: i32, argc: usize) -> bool {
    let argc = argc as i64;
    let arity = i64::from(arity);
    if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    }
}

/// A table row with no subcommands. (Positional arguments keep each row of
/// the table on one screen line.)
#[allow(clippy::too_many_arguments)]
const fn cmd(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: Handler,
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    args: &'static str,
) -> Command {
    Command {
        name,
        arity,
        flags,
        handler: Some(handler),
        subcommands: &[],
        group,
        since,
        summary,
        args,
    }
}

/// A container row (CLIENT, CONFIG, ...).
#[allow(clippy::too_many_arguments)]
const fn container(
    name: &'static str,
    arity: i32,
    flags: u32,
    handler: Option<Handler>,
    subcommands: &'static [Command],
    group: &'static str,
    since: &'static str,
    summary: &'static str,
) -> Command {
    Command {
        name,
        arity,
        flags,
        handler,
        subcommands,
        group,
        since,
        summary,
        args: "",
    }
}

use super::acl;
use super::debug;
use super::{
    auth, client, cluster, command, config, dbsize, echo, expire, flush, hello, info, keys, multi,
    ping, publish, pubsub, quit, reset, scripting, select, shutdown, strings, subscribe, time,
};
use super::{bits, object};
use super::{latency, monitor, operator, slowlog};

const CONN: &str = "connection";
const SERVER: &str = "server";
const PS: &str = "pubsub";
const STR: &str = "string";
const GEN: &str = "generic";
const TX: &str = "transactions";
const LUA: &str = "scripting";
const BITMAP: &str = "bitmap";

static OBJECT_SUBS: [Command; 5] = [
    cmd(
        "encoding",
        3,
        READONLY,
        object::encoding,
        GEN,
        "2.2.3",
        "Returns the internal encoding of a Redis object.",
        "key",
    ),
    cmd(
        "freq",
        3,
        READONLY,
        object::freq,
        GEN,
        "4.0.0",
        "Returns the logarithmic access frequency counter of a Redis object.",
        "key",
    ),
    cmd(
        "idletime",
        3,
        READONLY,
        object::idletime,
        GEN,
        "2.2.3",
        "Returns the time since the last access to a Redis object.",
        "key",
    ),
    cmd(
        "refcount",
        3,
        READONLY,
        object::refcount,
        GEN,
        "2.2.3",
        "Returns the reference count of a value of a key.",
        "key",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        object::object_help,
        GEN,
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        "",
    ),
];

static MEMORY_SUBS: [Command; 2] = [
    cmd(
        "usage",
        -3,
        READONLY,
        object::memory_usage,
        SERVER,
        "4.0.0",
        "Estimates the memory usage of a key.",
        "key [SAMPLES count]",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        object::memory_help,
        SERVER,
        "4.0.0",
        "Returns helpful text about the different subcommands.",
        "",
    ),
];

static SCRIPT_SUBS: [Command; 5] = [
    cmd(
        "load",
        3,
        NOSCRIPT | STALE | KEYSPACE,
        scripting::load,
        LUA,
        "2.6.0",
        "Loads a server-side Lua script to the script cache.",
        "script",
    ),
    cmd(
        "exists",
        -3,
        NOSCRIPT | KEYSPACE,
        scripting::exists,
        LUA,
        "2.6.0",
        "Determines whether server-side Lua scripts exist in the script cache.",
        "sha1 [sha1 ...]",
    ),
    cmd(
        "flush",
        -2,
        NOSCRIPT | KEYSPACE,
        scripting::flush,
        LUA,
        "2.6.0",
        "Removes all server-side Lua scripts from the script cache.",
        "[ASYNC|SYNC]",
    ),
    cmd(
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        scripting::kill,
        LUA,
        "2.6.0",
        "Terminates a server-side Lua script during execution.",
        "",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        scripting::help,
        LUA,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "",
    ),
];

static FUNCTION_SUBS: [Command; 4] = [
    cmd(
        "load",
        -3,
        NOSCRIPT | WRITE | DENYOOM,
        scripting::function_load,
        LUA,
        "7.0.0",
        "Creates a library.",
        "[REPLACE] function-code",
    ),
    cmd(
        "kill",
        2,
        NOSCRIPT | ALLOW_BUSY,
        scripting::function_kill,
        LUA,
        "7.0.0",
        "Terminates a function during execution.",
        "",
    ),
    cmd(
        "flush",
        -2,
        NOSCRIPT | WRITE,
        scripting::function_flush,
        LUA,
        "7.0.0",
        "Deletes all libraries and functions.",
        "[ASYNC|SYNC]",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        scripting::function_help,
        LUA,
        "7.0.0",
        "Returns helpful text about the different subcommands.",
        "",
    ),
];

static SLOWLOG_SUBS: [Command; 4] = [
    cmd(
        "get",
        -2,
        ADMIN | LOADING | STALE,
        slowlog::get,
        SERVER,
        "2.2.12",
        "Returns the slow log's entries.",
        "[count]",
    ),
    cmd(
        "len",
        2,
        ADMIN | LOADING | STALE,
        slowlog::len,
        SERVER,
        "2.2.12",
        "Returns the number of entries in the slow log.",
        "",
    ),
    cmd(
        "reset",
        2,
        ADMIN | LOADING | STALE,
        slowlog::reset,
        SERVER,
        "2.2.12",
        "Clears all entries from the slow log.",
        "",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        slowlog::help,
        SERVER,
        "6.2.0",
        "Show helpful text about the different subcommands.",
        "",
    ),
];

static LATENCY_SUBS: [Command; 6] = [
    cmd(
        "doctor",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        latency::doctor,
        SERVER,
        "2.8.13",
        "Returns a human-readable latency analysis report.",
        "",
    ),
    cmd(
        "histogram",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        latency::histogram,
        SERVER,
        "7.0.0",
        "Returns the cumulative distribution of latencies of a subset or all commands.",
        "[command [command ...]]",
    ),
    cmd(
        "history",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        latency::history,
        SERVER,
        "2.8.13",
        "Returns timestamp-latency samples for an event.",
        "event",
    ),
    cmd(
        "latest",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        latency::latest,
        SERVER,
        "2.8.13",
        "Returns the latest latency samples for all events.",
        "",
    ),
    cmd(
        "reset",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        latency::reset,
        SERVER,
        "2.8.13",
        "Resets the latency data for one or more events.",
        "[event [event ...]]",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        latency::help,
        SERVER,
        "2.8.13",
        "Returns helpful text about the different subcommands.",
        "",
    ),
];

static CLIENT_SUBS: [Command; 13] = [
    cmd(
        "id",
        2,
        NOSCRIPT | LOADING | STALE,
        client::id,
        CONN,
        "5.0.0",
        "Returns the unique client ID of the connection.",
        "",
    ),
    cmd(
        "setname",
        3,
        NOSCRIPT | LOADING | STALE,
        client::setname,
        CONN,
        "2.6.9",
        "Sets the connection name.",
        "connection-name",
    ),
    cmd(
        "getname",
        2,
        NOSCRIPT | LOADING | STALE,
        client::getname,
        CONN,
        "2.6.9",
        "Returns the name of the connection.",
        "",
    ),
    cmd(
        "setinfo",
        4,
        NOSCRIPT | LOADING | STALE,
        client::setinfo,
        CONN,
        "7.2.0",
        "Sets information specific to the client or connection.",
        "LIB-NAME|LIB-VER value",
    ),
    cmd(
        "reply",
        3,
        NOSCRIPT | LOADING | STALE,
        client::reply,
        CONN,
        "3.2.0",
        "Instructs the server whether to reply to commands.",
        "ON|OFF|SKIP",
    ),
    cmd(
        "info",
        2,
        NOSCRIPT | LOADING | STALE,
        client::info,
        CONN,
        "6.2.0",
        "Returns information about the connection.",
        "",
    ),
    cmd(
        "list",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        client::list,
        CONN,
        "2.4.0",
        "Lists open connections.",
        "[TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id ...]",
    ),
    cmd(
        "kill",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        client::kill,
        CONN,
        "2.4.0",
        "Terminates open connections.",
        "ip:port | [ID client-id] [TYPE type] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME YES|NO]",
    ),
    cmd(
        "no-evict",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        client::no_evict,
        CONN,
        "7.0.0",
        "Sets the client eviction mode of the connection.",
        "ON|OFF",
    ),
    cmd(
        "pause",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        operator::client_pause,
        CONN,
        "3.0.0",
        "Suspends commands processing.",
        "timeout [WRITE|ALL]",
    ),
    cmd(
        "unpause",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        operator::client_unpause,
        CONN,
        "6.2.0",
        "Resumes processing commands from paused clients.",
        "",
    ),
    cmd(
        "no-touch",
        3,
        NOSCRIPT | LOADING | STALE,
        client::no_touch,
        CONN,
        "7.2.0",
        "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.",
        "ON|OFF",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        client::help,
        CONN,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "",
    ),
];

static CONFIG_SUBS: [Command; 4] = [
    cmd(
        "get",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        config::get,
        SERVER,
        "2.0.0",
        "Returns the effective values of configuration parameters.",
        "parameter [parameter ...]",
    ),
    cmd(
        "set",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        config::set,
        SERVER,
        "2.0.0",
        "Sets configuration parameters in-flight.",
        "parameter value [parameter value ...]",
    ),
    cmd(
        "resetstat",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        config::resetstat,
        SERVER,
        "2.0.0",
        "Resets the server's statistics.",
        "",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        config::help,
        SERVER,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "",
    ),
];

static COMMAND_SUBS: [Command; 7] = [
    cmd(
        "count",
        2,
        LOADING | STALE,
        command::count,
        SERVER,
        "2.8.13",
        "Returns a count of commands.",
        "",
    ),
    cmd(
        "info",
        -2,
        LOADING | STALE,
        command::info,
        SERVER,
        "2.8.13",
        "Returns information about one, multiple or all commands.",
        "[command-name ...]",
    ),
    cmd(
        "docs",
        -2,
        LOADING | STALE,
        command::docs_all,
        SERVER,
        "7.0.0",
        "Returns documentary information about one, multiple or all commands.",
        "[command-name ...]",
    ),
    cmd(
        "list",
        -2,
        LOADING | STALE,
        command::list,
        SERVER,
        "7.0.0",
        "Returns a list of command names.",
        "[FILTERBY MODULE|ACLCAT|PATTERN value]",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        command::help,
        SERVER,
        "5.0.0",
        "Returns helpful text about the different subcommands.",
        "",
    ),
    cmd(
        "getkeys",
        -4,
        LOADING | STALE,
        command::getkeys,
        SERVER,
        "2.8.13",
        "Extracts the key names from an arbitrary command.",
        "command [arg [arg ...]]",
    ),
    cmd(
        "getkeysandflags",
        -4,
        LOADING | STALE,
        command::getkeys_and_flags,
        SERVER,
        "7.0.0",
        "Extracts the key names and access flags for an arbitrary command.",
        "command [arg [arg ...]]",
    ),
];

static PUBSUB_SUBS: [Command; 6] = [
    cmd(
        "channels",
        -2,
        PUBSUB | LOADING | STALE,
        pubsub::channels,
        PS,
        "2.8.0",
        "Returns the active channels.",
        "[pattern]",
    ),
    cmd(
        "numsub",
        -2,
        PUBSUB | LOADING | STALE,
        pubsub::numsub,
        PS,
        "2.8.0",
        "Returns a count of subscribers to channels.",
        "[channel ...]",
    ),
    cmd(
        "numpat",
        2,
        PUBSUB | LOADING | STALE,
        pubsub::numpat,
        PS,
        "2.8.0",
        "Returns a count of unique pattern subscriptions.",
        "",
    ),
    cmd(
        "shardchannels",
        -2,
        PUBSUB | LOADING | STALE,
        pubsub::shardchannels,
        PS,
        "7.0.0",
        "Returns the active shard channels.",
        "[pattern]",
    ),
    cmd(
        "shardnumsub",
        -2,
        PUBSUB | LOADING | STALE,
        pubsub::shardnumsub,
        PS,
        "7.0.0",
        "Returns the count of subscribers of shard channels.",
        "[shardchannel ...]",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        pubsub::help,
        PS,
        "6.2.0",
        "Returns helpful text about the different subcommands.",
        "",
    ),
];

/// Every top-level command.
static ACL_SUBS: [Command; 13] = [
    cmd(
        "cat",
        -2,
        NOSCRIPT | LOADING | STALE,
        acl::cat,
        SERVER,
        "6.0.0",
        "Lists the ACL categories, or the commands inside a category.",
        "[category]",
    ),
    cmd(
        "deluser",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        acl::deluser,
        SERVER,
        "6.0.0",
        "Deletes ACL users, and terminates their connections.",
        "username [username ...]",
    ),
    cmd(
        "dryrun",
        -4,
        ADMIN | NOSCRIPT | LOADING | STALE,
        acl::dryrun,
        SERVER,
        "7.0.0",
        "Simulates the execution of a command by a user, without executing the command.",
        "username command [arg [arg ...]]",
    ),
    cmd(
        "genpass",
        -2,
        NOSCRIPT | LOADING | STALE,
        acl::genpass,
        SERVER,
        "6.0.0",
        "Generates a pseudorandom, secure password that can be used to identify ACL users.",
        "[bits]",
    ),
    cmd(
        "getuser",
        3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        acl::getuser,
        SERVER,
        "6.0.0",
        "Lists the ACL rules of a user.",
        "username",
    ),
    cmd(
        "help",
        2,
        LOADING | STALE,
        acl::help,
        SERVER,
        "6.0.0",
        "Returns helpful text about the different subcommands.",
        "",
    ),
    cmd(
        "list",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        acl::list,
        SERVER,
        "6.0.0",
        "Dumps the effective rules in ACL file format.",
        "",
    ),
    cmd(
        "load",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        acl::load,
        SERVER,
        "6.0.0",
        "Reloads the rules from the configured ACL file.",
        "",
    ),
    cmd(
        "log",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        acl::log,
        SERVER,
        "6.0.0",
        "Lists recent security events generated due to ACL rules.",
        "[count|RESET]",
    ),
    cmd(
        "save",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        acl::save,
        SERVER,
        "6.0.0",
        "Saves the effective ACL rules in the configured ACL file.",
        "",
    ),
    cmd(
        "setuser",
        -3,
        ADMIN | NOSCRIPT | LOADING | STALE,
        acl::setuser,
        SERVER,
        "6.0.0",
        "Creates and modifies an ACL user and its rules.",
        "username [rule [rule ...]]",
    ),
    cmd(
        "users",
        2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        acl::users,
        SERVER,
        "6.0.0",
        "Lists all ACL users.",
        "",
    ),
    cmd(
        "whoami",
        2,
        NOSCRIPT | LOADING | STALE,
        acl::whoami,
        SERVER,
        "6.0.0",
        "Returns the authenticated username of the current connection.",
        "",
    ),
];

pub static COMMANDS: &[Command] = &[
    cmd(
        "ping",
        -1,
        FAST | SUBSCRIBED_OK,
        ping::ping,
        CONN,
        "1.0.0",
        "Returns the server's liveliness response.",
        "[message]",
    ),
    cmd(
        "echo",
        2,
        LOADING | STALE | FAST,
        echo::echo,
        CONN,
        "1.0.0",
        "Returns the given string.",
        "message",
    ),
    cmd(
        "quit",
        -1,
        ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | SUBSCRIBED_OK,
        quit::quit,
        CONN,
        "1.0.0",
        "Closes the connection.",
        "",
    ),
    cmd(
        "reset",
        1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | SUBSCRIBED_OK,
        reset::reset,
        CONN,
        "6.2.0",
        "Resets the connection.",
        "",
    ),
    cmd(
        "auth",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        auth::auth,
        CONN,
        "1.0.0",
        "Authenticates the connection.",
        "[username] password",
    ),
    cmd(
        "hello",
        -1,
        NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY,
        hello::hello,
        CONN,
        "6.0.0",
        "Handshakes with the Redis server.",
        "[protover [AUTH username password] [SETNAME clientname]]",
    ),
    cmd(
        "select",
        2,
        LOADING | STALE | FAST,
        select::select,
        CONN,
        "1.0.0",
        "Changes the selected database.",
        "index",
    ),
    cmd(
        "time",
        1,
        LOADING | STALE | FAST,
        time::time,
        SERVER,
        "2.6.0",
        "Returns the server time.",
        "",
    ),
    cmd(
        "dbsize",
        1,
        READONLY | FAST,
        dbsize::dbsize,
        SERVER,
        "1.0.0",
        "Returns the number of keys in the database.",
        "",
    ),
    cmd(
        "flushdb",
        -1,
        WRITE | MAY_PUSH,
        flush::flushdb,
        SERVER,
        "1.0.0",
        "Removes all keys from the current database.",
        "[ASYNC|SYNC]",
    ),
    cmd(
        "flushall",
        -1,
        WRITE | MAY_PUSH,
        flush::flushall,
        SERVER,
        "1.0.0",
        "Removes all keys from all databases.",
        "[ASYNC|SYNC]",
    ),
    cmd(
        "info",
        -1,
        LOADING | STALE | KEYSPACE,
        info::info,
        SERVER,
        "1.0.0",
        "Returns information and statistics about the server.",
        "[section [section ...]]",
    ),
    cmd(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
        shutdown::shutdown,
        SERVER,
        "1.0.0",
        "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        "[NOSAVE|SAVE] [NOW] [FORCE] [ABORT]",
    ),
    cmd(
        "cluster",
        -2,
        0,
        cluster::cluster,
        "cluster",
        "3.0.0",
        "A container for Redis Cluster commands.",
        "subcommand [arg ...]",
    ),
    cmd(
        "readonly",
        1,
        LOADING | STALE | FAST,
        cluster::cluster,
        "cluster",
        "3.0.0",
        "Enables read-only queries for a connection to a Redis Cluster replica node.",
        "",
    ),
    cmd(
        "readwrite",
        1,
        LOADING | STALE | FAST,
        cluster::cluster,
        "cluster",
        "3.0.0",
        "Enables read-write queries for a connection to a Redis Cluster replica node.",
        "",
    ),
    cmd(
        "subscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK | MAY_PUSH,
        subscribe::subscribe,
        PS,
        "2.0.0",
        "Listens for messages published to channels.",
        "channel [channel ...]",
    ),
    cmd(
        "unsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK | MAY_PUSH,
        subscribe::unsubscribe,
        PS,
        "2.0.0",
        "Stops listening to messages posted to channels.",
        "[channel [channel ...]]",
    ),
    cmd(
        "psubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK | MAY_PUSH,
        subscribe::psubscribe,
        PS,
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
        "pattern [pattern ...]",
    ),
    cmd(
        "punsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK | MAY_PUSH,
        subscribe::punsubscribe,
        PS,
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
        "[pattern [pattern ...]]",
    ),
    cmd(
        "ssubscribe",
        -2,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK | MAY_PUSH,
        subscribe::ssubscribe,
        PS,
        "7.0.0",
        "Listens for messages published to shard channels.",
        "shardchannel [shardchannel ...]",
    ),
    cmd(
        "sunsubscribe",
        -1,
        PUBSUB | NOSCRIPT | LOADING | STALE | SUBSCRIBED_OK | MAY_PUSH,
        subscribe::sunsubscribe,
        PS,
        "7.0.0",
        "Stops listening to messages posted to shard channels.",
        "[shardchannel [shardchannel ...]]",
    ),
    cmd(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE | MAY_PUSH,
        publish::publish,
        PS,
        "2.0.0",
        "Posts a message to a channel.",
        "channel message",
    ),
    cmd(
        "spublish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE | MAY_PUSH,
        publish::spublish,
        PS,
        "7.0.0",
        "Post a message to a shard channel",
        "shardchannel message",
    ),
    cmd(
        "get",
        2,
        READONLY | FAST,
        strings::get,
        STR,
        "1.0.0",
        "Returns the string value of a key.",
        "key",
    ),
    cmd(
        "set",
        -3,
        WRITE | DENYOOM,
        strings::set,
        STR,
        "1.0.0",
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        "key value [NX|XX] [GET] [EX|PX|EXAT|PXAT time|KEEPTTL]",
    ),
    cmd(
        "setex",
        4,
        WRITE | DENYOOM,
        strings::setex,
        STR,
        "2.0.0",
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        "key seconds value",
    ),
    cmd(
        "psetex",
        4,
        WRITE | DENYOOM,
        strings::psetex,
        STR,
        "2.6.0",
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        "key milliseconds value",
    ),
    cmd(
        "setnx",
        3,
        WRITE | DENYOOM | FAST,
        strings::setnx,
        STR,
        "1.0.0",
        "Set the string value of a key only when the key doesn't exist.",
        "key value",
    ),
    cmd(
        "getdel",
        2,
        WRITE | FAST,
        strings::getdel,
        STR,
        "6.2.0",
        "Returns the string value of a key after deleting the key.",
        "key",
    ),
    cmd(
        "mget",
        -2,
        READONLY | FAST,
        strings::mget,
        STR,
        "1.0.0",
        "Atomically returns the string values of one or more keys.",
        "key [key ...]",
    ),
    cmd(
        "mset",
        -3,
        WRITE | DENYOOM,
        strings::mset,
        STR,
        "1.0.1",
        "Atomically creates or modifies the string values of one or more keys.",
        "key value [key value ...]",
    ),
    cmd(
        "incr",
        2,
        WRITE | DENYOOM | FAST,
        strings::incr,
        STR,
        "1.0.0",
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        "key",
    ),
    cmd(
        "incrby",
        3,
        WRITE | DENYOOM | FAST,
        strings::incrby,
        STR,
        "1.0.0",
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        "key increment",
    ),
    cmd(
        "decr",
        2,
        WRITE | DENYOOM | FAST,
        strings::decr,
        STR,
        "1.0.0",
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.",
        "key",
    ),
    cmd(
        "decrby",
        3,
        WRITE | DENYOOM | FAST,
        strings::decrby,
        STR,
        "1.0.0",
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.",
        "key decrement",
    ),
    cmd(
        "append",
        3,
        WRITE | DENYOOM | FAST,
        strings::append,
        STR,
        "2.0.0",
        "Appends a string to the value of a key. Creates the key if it doesn't exist.",
        "key value",
    ),
    cmd(
        "strlen",
        2,
        READONLY | FAST,
        strings::strlen,
        STR,
        "2.2.0",
        "Returns the length of a string value.",
        "key",
    ),
    cmd(
        "getex",
        -2,
        WRITE | FAST,
        strings::getex,
        STR,
        "6.2.0",
        "Returns the string value of a key after setting its expiration time.",
        "key [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT unix-time-milliseconds|PERSIST]",
    ),
    cmd(
        "getset",
        3,
        WRITE | DENYOOM | FAST,
        strings::getset,
        STR,
        "1.0.0",
        "Returns the previous string value of a key after setting it to a new value.",
        "key value",
    ),
    cmd(
        "msetnx",
        -3,
        WRITE | DENYOOM,
        strings::msetnx,
        STR,
        "1.0.1",
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        "key value [key value ...]",
    ),
    cmd(
        "setrange",
        4,
        WRITE | DENYOOM,
        strings::setrange,
        STR,
        "2.2.0",
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.",
        "key offset value",
    ),
    cmd(
        "getrange",
        4,
        READONLY,
        strings::getrange,
        STR,
        "2.4.0",
        "Returns a substring of the string stored at a key.",
        "key start end",
    ),
    cmd(
        "substr",
        4,
        READONLY,
        strings::getrange,
        STR,
        "1.0.0",
        "Returns a substring from a string value.",
        "key start end",
    ),
    cmd(
        "incrbyfloat",
        3,
        WRITE | DENYOOM | FAST,
        strings::incrbyfloat,
        STR,
        "2.6.0",
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.",
        "key increment",
    ),
    cmd(
        "lcs",
        -3,
        READONLY,
        strings::lcs,
        STR,
        "7.0.0",
        "Finds the longest common substring.",
        "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]",
    ),
    cmd(
        "setbit",
        4,
        WRITE | DENYOOM,
        bits::setbit,
        BITMAP,
        "2.2.0",
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        "key offset value",
    ),
    cmd(
        "getbit",
        3,
        READONLY | FAST,
        bits::getbit,
        BITMAP,
        "2.2.0",
        "Returns a bit value by offset.",
        "key offset",
    ),
    cmd(
        "bitcount",
        -2,
        READONLY,
        bits::bitcount,
        BITMAP,
        "2.6.0",
        "Counts the number of set bits (population counting) in a string.",
        "key [start end [BYTE|BIT]]",
    ),
    cmd(
        "bitpos",
        -3,
        READONLY,
        bits::bitpos,
        BITMAP,
        "2.8.7",
        "Finds the first set (1) or clear (0) bit in a string.",
        "key bit [start [end [BYTE|BIT]]]",
    ),
    cmd(
        "bitop",
        -4,
        WRITE | DENYOOM,
        bits::bitop,
        BITMAP,
        "2.6.0",
        "Performs bitwise operations on multiple strings, and stores the result.",
        "AND|OR|XOR|NOT destkey key [key ...]",
    ),
    cmd(
        "del",
        -2,
        WRITE,
        keys::del,
        GEN,
        "1.0.0",
        "Deletes one or more keys.",
        "key [key ...]",
    ),
    cmd(
        "unlink",
        -2,
        WRITE | FAST,
        keys::del,
        GEN,
        "4.0.0",
        "Asynchronously deletes one or more keys.",
        "key [key ...]",
    ),
    cmd(
        "exists",
        -2,
        READONLY | FAST,
        keys::exists,
        GEN,
        "1.0.0",
        "Determines whether one or more keys exist.",
        "key [key ...]",
    ),
    cmd(
        "type",
        2,
        READONLY | FAST,
        keys::type_of,
        GEN,
        "1.0.0",
        "Determines the type of value stored at a key.",
        "key",
    ),
    cmd(
        "keys",
        2,
        READONLY,
        keys::keys,
        GEN,
        "1.0.0",
        "Returns all key names that match a pattern.",
        "pattern",
    ),
    cmd(
        "scan",
        -2,
        READONLY,
        keys::scan,
        GEN,
        "2.8.0",
        "Iterates over the key names in the database.",
        "cursor [MATCH pattern] [COUNT count] [TYPE type]",
    ),
    cmd(
        "randomkey",
        1,
        READONLY,
        keys::randomkey,
        GEN,
        "1.0.0",
        "Returns a random key name from the database.",
        "",
    ),
    cmd(
        "rename",
        3,
        WRITE,
        keys::rename,
        GEN,
        "1.0.0",
        "Renames a key and overwrites the destination.",
        "key newkey",
    ),
    cmd(
        "renamenx",
        3,
        WRITE | FAST,
        keys::renamenx,
        GEN,
        "1.0.0",
        "Renames a key only when the target key name doesn't exist.",
        "key newkey",
    ),
    cmd(
        "copy",
        -3,
        WRITE | DENYOOM,
        keys::copy,
        GEN,
        "6.2.0",
        "Copies the value of a key to a new key.",
        "source destination [DB destination-db] [REPLACE]",
    ),
    cmd(
        "move",
        3,
        WRITE | FAST,
        keys::move_key,
        GEN,
        "1.0.0",
        "Moves a key to another database.",
        "key db",
    ),
    cmd(
        "touch",
        -2,
        READONLY | FAST,
        keys::touch,
        GEN,
        "3.2.1",
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.",
        "key [key ...]",
    ),
    cmd(
        "swapdb",
        3,
        WRITE | FAST,
        keys::swapdb,
        SERVER,
        "4.0.0",
        "Swaps two Redis databases.",
        "index1 index2",
    ),
    cmd(
        "expire",
        -3,
        WRITE | FAST,
        expire::expire,
        GEN,
        "1.0.0",
        "Sets the expiration time of a key in seconds.",
        "key seconds [NX|XX|GT|LT]",
    ),
    cmd(
        "pexpire",
        -3,
        WRITE | FAST,
        expire::pexpire,
        GEN,
        "2.6.0",
        "Sets the expiration time of a key in milliseconds.",
        "key milliseconds [NX|XX|GT|LT]",
    ),
    cmd(
        "expireat",
        -3,
        WRITE | FAST,
        expire::expireat,
        GEN,
        "1.2.0",
        "Sets the expiration time of a key to a Unix timestamp.",
        "key unix-time-seconds [NX|XX|GT|LT]",
    ),
    cmd(
        "pexpireat",
        -3,
        WRITE | FAST,
        expire::pexpireat,
        GEN,
        "2.6.0",
        "Sets the expiration time of a key to a Unix milliseconds timestamp.",
        "key unix-time-milliseconds [NX|XX|GT|LT]",
    ),
    cmd(
        "ttl",
        2,
        READONLY | FAST,
        expire::ttl,
        GEN,
        "1.0.0",
        "Returns the expiration time in seconds of a key.",
        "key",
    ),
    cmd(
        "pttl",
        2,
        READONLY | FAST,
        expire::pttl,
        GEN,
        "2.6.0",
        "Returns the expiration time in milliseconds of a key.",
        "key",
    ),
    cmd(
        "expiretime",
        2,
        READONLY | FAST,
        expire::expiretime,
        GEN,
        "7.0.0",
        "Returns the expiration time of a key as a Unix timestamp.",
        "key",
    ),
    cmd(
        "pexpiretime",
        2,
        READONLY | FAST,
        expire::pexpiretime,
        GEN,
        "7.0.0",
        "Returns the expiration time of a key as a Unix milliseconds timestamp.",
        "key",
    ),
    cmd(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE | KEYSPACE,
        debug::debug,
        SERVER,
        "1.0.0",
        "A container for debugging commands.",
        "",
    ),
    cmd(
        "persist",
        2,
        WRITE | FAST,
        expire::persist,
        GEN,
        "2.2.0",
        "Removes the expiration time of a key.",
        "key",
    ),
    cmd(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        multi::multi,
        TX,
        "1.2.0",
        "Starts a transaction.",
        "",
    ),
    cmd(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | KEYSPACE,
        multi::exec,
        TX,
        "1.2.0",
        "Executes all commands in a transaction.",
        "",
    ),
    cmd(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        multi::discard,
        TX,
        "2.0.0",
        "Discards a transaction.",
        "",
    ),
    cmd(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY | KEYSPACE,
        multi::watch,
        TX,
        "2.2.0",
        "Monitors changes to keys to determine the execution of a transaction.",
        "key [key ...]",
    ),
    cmd(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        multi::unwatch,
        TX,
        "2.2.0",
        "Forgets about watched keys of a transaction.",
        "",
    ),
    cmd(
        "eval",
        -3,
        NOSCRIPT | STALE | SKIP_MONITOR | MAY_PUSH | KEYSPACE,
        scripting::eval,
        LUA,
        "2.6.0",
        "Executes a server-side Lua script.",
        "script numkeys [key [key ...]] [arg [arg ...]]",
    ),
    cmd(
        "evalsha",
        -3,
        NOSCRIPT | STALE | SKIP_MONITOR | MAY_PUSH | KEYSPACE,
        scripting::evalsha,
        LUA,
        "2.6.0",
        "Executes a server-side Lua script by SHA1 digest.",
        "sha1 numkeys [key [key ...]] [arg [arg ...]]",
    ),
    cmd(
        "eval_ro",
        -3,
        NOSCRIPT | STALE | SKIP_MONITOR | READONLY | MAY_PUSH,
        scripting::eval_ro,
        LUA,
        "7.0.0",
        "Executes a read-only server-side Lua script.",
        "script numkeys [key [key ...]] [arg [arg ...]]",
    ),
    cmd(
        "evalsha_ro",
        -3,
        NOSCRIPT | STALE | SKIP_MONITOR | READONLY | MAY_PUSH,
        scripting::evalsha_ro,
        LUA,
        "7.0.0",
        "Executes a read-only server-side Lua script by SHA1 digest.",
        "sha1 numkeys [key [key ...]] [arg [arg ...]]",
    ),
    container(
        "object",
        -2,
        0,
        None,
        &OBJECT_SUBS,
        GEN,
        "2.2.3",
        "A container for object introspection commands.",
    ),
    container(
        "memory",
        -2,
        0,
        None,
        &MEMORY_SUBS,
        SERVER,
        "4.0.0",
        "A container for memory diagnostics commands.",
    ),
    container(
        "script",
        -2,
        0,
        None,
        &SCRIPT_SUBS,
        LUA,
        "2.6.0",
        "A container for Lua scripts management commands.",
    ),
    cmd(
        "fcall",
        -3,
        NOSCRIPT | STALE | SKIP_MONITOR | MAY_PUSH | KEYSPACE,
        scripting::fcall,
        LUA,
        "7.0.0",
        "Invokes a function.",
        "function numkeys [key [key ...]] [arg [arg ...]]",
    ),
    cmd(
        "fcall_ro",
        -3,
        NOSCRIPT | STALE | SKIP_MONITOR | READONLY | MAY_PUSH,
        scripting::fcall_ro,
        LUA,
        "7.0.0",
        "Invokes a read-only function.",
        "function numkeys [key [key ...]] [arg [arg ...]]",
    ),
    container(
        "function",
        -2,
        0,
        None,
        &FUNCTION_SUBS,
        LUA,
        "7.0.0",
        "A container for function commands.",
    ),
    container(
        "client",
        -2,
        0,
        None,
        &CLIENT_SUBS,
        CONN,
        "2.4.0",
        "A container for client connection commands.",
    ),
    container(
        "config",
        -2,
        0,
        None,
        &CONFIG_SUBS,
        SERVER,
        "2.0.0",
        "A container for server configuration commands.",
    ),
    container(
        "command",
        -1,
        LOADING | STALE,
        Some(command::all),
        &COMMAND_SUBS,
        SERVER,
        "2.8.13",
        "Returns detailed information about all commands.",
    ),
    container(
        "slowlog",
        -2,
        0,
        None,
        &SLOWLOG_SUBS,
        SERVER,
        "2.2.12",
        "A container for slow log commands.",
    ),
    container(
        "latency",
        -2,
        0,
        None,
        &LATENCY_SUBS,
        SERVER,
        "2.8.13",
        "A container for latency diagnostics commands.",
    ),
    cmd(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        monitor::monitor,
        SERVER,
        "1.0.0",
        "Listens for all requests received by the server in real-time.",
        "",
    ),
    cmd(
        "role",
        1,
        NOSCRIPT | LOADING | STALE | FAST,
        operator::role,
        SERVER,
        "2.8.12",
        "Returns the replication role.",
        "",
    ),
    cmd(
        "lastsave",
        1,
        LOADING | STALE | FAST,
        operator::lastsave,
        SERVER,
        "1.0.0",
        "Returns the Unix timestamp of the last successful save to disk.",
        "",
    ),
    cmd(
        "wait",
        3,
        NOSCRIPT,
        operator::wait,
        GEN,
        "3.0.0",
        "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.",
        "numreplicas timeout",
    ),
    container(
        "pubsub",
        -2,
        0,
        None,
        &PUBSUB_SUBS,
        PS,
        "2.8.0",
        "A container for Pub/Sub commands.",
    ),
    container(
        "acl",
        -2,
        0,
        None,
        &ACL_SUBS,
        SERVER,
        "6.0.0",
        "A container for Access List Control commands.",
    ),
];

/// Longest command name [`lookup`]'s per-thread memo keeps.
pub const MEMO_NAME_MAX: usize = 16;

/// A name exactly as a client sent it and the command it names.
type Memo = ([u8; MEMO_NAME_MAX], usize, Option<&'static Command>);

thread_local! {
    /// The last name [`lookup`] found on this thread. A pipelining client
    /// sends one command over and over (PUBLISH after PUBLISH), and
    /// comparing its bytes is several times cheaper than lowercasing and
    /// hashing them again (callgrind, `micro publish_path`). Per thread, not
    /// per connection, so an idle connection carries none of it.
    static LAST: std::cell::Cell<Memo> =
        const { std::cell::Cell::new(([0; MEMO_NAME_MAX], usize::MAX, None)) };
}

/// A command's identity as a number: the address of its entry in the
/// static table (never 0). Lets a client keep its last command in an atomic
/// word instead of behind a lock; [`names_by_identity`] turns it back.
pub fn identity(cmd: &'static Command) -> usize {
    std::ptr::from_ref(cmd) as usize
}

/// The names (command, subcommand) of the command whose [`identity`] is
/// `id`, searching the table; None for 0 or an unknown number.
pub fn names_by_identity(id: usize) -> Option<(&'static str, Option<&'static str>)> {
    COMMANDS.iter().find_map(|c| {
        if identity(c) == id {
            return Some((c.name, None));
        }
        c.subcommands
            .iter()
            .find(|sub| identity(sub) == id)
            .map(|sub| (c.name, Some(sub.name)))
    })
}

/// The command named `name` (any case).
pub fn lookup(name: &[u8]) -> Option<&'static Command> {
    let (bytes, len, cmd) = LAST.get();
    if len == name.len() && bytes.get(..len) == Some(name) {
        return cmd;
    }
    let found = lookup_uncached(name)?;
    let mut memo = [0u8; MEMO_NAME_MAX];
    if let Some(dst) = memo.get_mut(..name.len()) {
        dst.copy_from_slice(name);
        LAST.set((memo, name.len(), Some(found)));
    }
    Some(found)
}

/// [`lookup`] without the memo: lowercase, then the table's index.
fn lookup_uncached(name: &[u8]) -> Option<&'static Command> {
    // Keys are the table's own names, so a fast non-keyed hash is safe here.
    static INDEX: OnceLock<HashMap<Vec<u8>, &'static Command, rustc_hash::FxBuildHasher>> =
        OnceLock::new();
    let index = INDEX.get_or_init(|| {
        COMMANDS
            .iter()
            .map(|c| (c.name.as_bytes().to_vec(), c))
            .collect()
    });
    if name.len() > 32 {
        return None;
    }
    let mut lower = [0u8; 32];
    let lower = &mut lower[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    index.get(&*lower).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_name_every_command_and_subcommand() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            assert!(seen.insert(identity(c)), "{} shares an identity", c.name);
            assert_eq!(names_by_identity(identity(c)), Some((c.name, None)));
            for sub in c.subcommands {
                assert!(seen.insert(identity(sub)), "{}|{}", c.name, sub.name);
                assert_eq!(
                    names_by_identity(identity(sub)),
                    Some((c.name, Some(sub.name)))
                );
            }
        }
        assert_eq!(names_by_identity(0), None);
    }

    fn same(a: Option<&'static Command>, b: Option<&'static Command>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => std::ptr::eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    #[test]
    fn the_memo_answers_as_the_index_does() {
        // Each name right after each other one, so every answer is given
        // once from the memo of the previous name and once fresh.
        let mut names: Vec<Vec<u8>> = Vec::new();
        for c in COMMANDS.iter().take(40) {
            names.push(c.name.as_bytes().to_vec());
            names.push(c.name.to_ascii_uppercase().into_bytes());
        }
        for odd in [
            &b"pub"[..],
            b"publishx",
            b"",
            b"nosuchcommand",
            b"p\xffblish",
        ] {
            names.push(odd.to_vec());
        }
        names.push(vec![b'a'; MEMO_NAME_MAX + 1]);
        for a in &names {
            for b in &names {
                for name in [a, b, b] {
                    assert!(
                        same(lookup(name), lookup_uncached(name)),
                        "{:?} after {:?}",
                        String::from_utf8_lossy(name),
                        String::from_utf8_lossy(a)
                    );
                }
            }
        }
        assert!(lookup(b"PUBLISH").is_some_and(|c| c.name == "publish"));
        assert!(lookup(b"pub").is_none());
    }
}
