// Test harness: starts a pubsubd (or redis-server, for reference runs) on a free
// 127.0.0.1 port, waits until it accepts connections, and stops it afterwards.
//
// The binary is $PUBSUBD_TEST_BIN if set, else <repo>/target/debug/pubsubd.
// Against Redis: PUBSUBD_TEST_BIN=$(which redis-server) npm test

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Path of the server binary under test. */
export const SERVER_BIN = process.env.PUBSUBD_TEST_BIN
  ? path.resolve(process.env.PUBSUBD_TEST_BIN)
  : path.resolve(here, '..', '..', 'target', 'debug', 'pubsubd');

/** True when the reference server (redis-server) is under test. */
export const IS_REDIS = path.basename(SERVER_BIN).includes('redis-server');

// How long a server may take to accept its first connection.
const START_TIMEOUT_MS = 10_000;
// How long a server may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT_MS = 5_000;
// How much of the server's output is kept for error messages.
const MAX_LOG_CHARS = 8_192;

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves true if a TCP connection to 127.0.0.1:port succeeds. */
export function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * Starts the server binary with `--port N --bind 127.0.0.1` and the given extra
 * arguments (e.g. ['--requirepass', 'pw']). Resolves to
 * `{ port, host, url, stop(), log() }` once the port accepts connections.
 */
export async function startServer(extraArgs = []) {
  if (!existsSync(SERVER_BIN)) {
    throw new Error(
      `server binary not found: ${SERVER_BIN} (build it with cargo build, or set PUBSUBD_TEST_BIN)`,
    );
  }
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1'];
  if (IS_REDIS) args.push('--save', '', '--appendonly', 'no');
  args.push(...extraArgs);

  const child = spawn(SERVER_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Never leave a server behind, even if the test process dies mid-test.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-MAX_LOG_CHARS);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  let exitInfo = null;
  exited.then((info) => {
    exitInfo = info;
  });
  child.once('error', (err) => keep(`spawn error: ${err.message}\n`));

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (exitInfo) {
      throw new Error(
        `server exited early (${JSON.stringify(exitInfo)}): ${SERVER_BIN} ${args.join(' ')}\n${output}`,
      );
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`server did not accept connections on port ${port} within ${START_TIMEOUT_MS} ms\n${output}`);
    }
    await sleep(50);
  }

  let stopping = null;
  return {
    port,
    host: '127.0.0.1',
    url: `redis://127.0.0.1:${port}`,
    /** Server output so far (last few KiB). */
    log: () => output,
    /** Stops the server: SIGTERM, then SIGKILL if it has not exited in time. */
    stop() {
      if (stopping) return stopping;
      stopping = (async () => {
        if (exitInfo) return exitInfo;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        const info = await exited;
        clearTimeout(timer);
        return info;
      })();
      return stopping;
    },
  };
}

/**
 * Polls `check` (an async function) every 20 ms until it returns a truthy value,
 * and resolves to that value; rejects after `timeoutMs` with the last value seen.
 */
export async function waitFor(check, { timeoutMs = 5_000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last) return last;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last value: ${JSON.stringify(last)})`);
    }
    await sleep(20);
  }
}

/**
 * Resolves with the arguments of the first `event` emitted by `emitter`, or
 * rejects after `timeoutMs`. The listener is removed either way.
 */
export function once(emitter, event, { timeoutMs = 5_000, filter = () => true } = {}) {
  return new Promise((resolve, reject) => {
    const on = emitter.on ? 'on' : 'addListener';
    const off = emitter.off ? 'off' : 'removeListener';
    const listener = (...args) => {
      if (!filter(...args)) return;
      clearTimeout(timer);
      emitter[off](event, listener);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter[off](event, listener);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    emitter[on](event, listener);
  });
}

/**
 * Returns a message collector: `push` is a listener to hand to a client, and
 * `next()` resolves with the next collected item (waiting up to `timeoutMs`).
 */
export function collector({ timeoutMs = 5_000 } = {}) {
  const items = [];
  const waiters = [];
  return {
    items,
    push(...args) {
      const item = args.length === 1 ? args[0] : args;
      const w = waiters.shift();
      if (w) w(item);
      else items.push(item);
    },
    next() {
      if (items.length) return Promise.resolve(items.shift());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(done);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for a message`));
        }, timeoutMs);
        const done = (item) => {
          clearTimeout(timer);
          resolve(item);
        };
        waiters.push(done);
      });
    },
  };
}

/** A payload with every byte value, including 0x00, \r\n and 0xff. */
export function allBytes() {
  const b = Buffer.alloc(256 + 6);
  for (let i = 0; i < 256; i++) b[i] = i;
  // End on a CRLF followed by a NUL and 0xff, where a lazy parser would trip.
  b.set([0x0d, 0x0a, 0x00, 0xff, 0x0d, 0x0a], 256);
  return b;
}
