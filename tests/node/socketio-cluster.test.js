// socket.io 4 with @socket.io/redis-adapter on a pubsubd cluster: three
// nats-servers routed to each other, three pubsubd nodes (one per NATS
// server, each listing all three), and one socket.io server per node, each
// with its own Redis clients on its own node. What one socket.io server
// emits must reach the browser clients of all three exactly once,
// fetchSockets must see every server's sockets, and serverSideEmit with acks
// must collect one answer from each other server.
//
// The test starts and stops its own nats-servers (nats-server from PATH or
// Debian's /usr/sbin; test.sh installs it) and skips, saying why, when there
// is none. Against redis-server it is skipped too: Redis has no NATS link.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import Redis from 'ioredis';
import { Server } from 'socket.io';
import { io as ioClient } from 'socket.io-client';
import { IS_REDIS, canConnect, collector, freePort, once, startServer, waitFor } from './harness.js';
import { adaptersSubscribed, numSub, redisPair } from './redis-pair.js';

const NODES = 3;
const ROOM = 'room-c';
// Each test, including its servers' start and the cluster's linking.
const TEST_TIMEOUT = { timeout: 30_000 };
// Starting the cluster (three NATS servers, three nodes, linking them), and
// stopping it.
const HOOK_TIMEOUT = { timeout: 60_000 };
// How long a nats-server may take to accept connections, and to exit.
const NATS_START_TIMEOUT_MS = 10_000;
const NATS_STOP_TIMEOUT_MS = 3_000;
// How long after the last expected delivery the test keeps listening for a
// duplicate.
const QUIET_MS = 400;
// Counts cross nodes in reports (about every 100-150 ms after a change);
// linking, NATS route interest and the first reports take a few seconds.
const LINK_TIMEOUT_MS = 15_000;

/** nats-server from PATH or Debian's /usr/sbin, or null. */
function natsBin() {
  if (process.env.NATS_SERVER_BIN) return process.env.NATS_SERVER_BIN;
  const dirs = (process.env.PATH || '').split(':').concat(['/usr/sbin', '/usr/bin']);
  for (const d of dirs) {
    const p = path.join(d, 'nats-server');
    if (d && existsSync(p)) return p;
  }
  return null;
}

const NATS_BIN = natsBin();
const SKIP = IS_REDIS
  ? 'cluster mode is pubsubd only'
  : NATS_BIN
    ? false
    : 'nats-server not found (apt-get install nats-server; test.sh does)';

/**
 * Starts `n` nats-servers on free 127.0.0.1 ports, routed to each other as
 * one NATS cluster. Resolves to `{ urls, stop() }`.
 */
async function startNatsCluster(n) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pubsubd-nats-'));
  const ports = [];
  for (let i = 0; i < n; i++) ports.push({ client: await freePort(), route: await freePort() });
  const children = [];
  const stopAll = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill('SIGKILL'), NATS_STOP_TIMEOUT_MS);
            c.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < n; i++) {
      const routes = ports
        .filter((_, j) => j !== i)
        .map((p) => `"nats-route://127.0.0.1:${p.route}"`)
        .join(', ');
      const conf = path.join(dir, `n${i}.conf`);
      writeFileSync(
        conf,
        `listen: 127.0.0.1:${ports[i].client}\nserver_name: n${i}\n` +
          `cluster {\n name: sio\n listen: 127.0.0.1:${ports[i].route}\n routes: [${routes}]\n}\n`,
      );
      const child = spawn(NATS_BIN, ['-c', conf], { stdio: 'ignore' });
      const kill = () => child.kill('SIGKILL');
      process.once('exit', kill);
      child.once('exit', () => process.off('exit', kill));
      children.push(child);
    }
    for (const p of ports) {
      await waitFor(() => canConnect(p.client), {
        timeoutMs: NATS_START_TIMEOUT_MS,
        what: `nats-server on ${p.client}`,
      });
    }
  } catch (e) {
    await stopAll();
    throw e;
  }
  return { urls: ports.map((p) => `nats://127.0.0.1:${p.client}`), stop: stopAll };
}

function infoField(info, name) {
  const m = info.match(new RegExp(`^${name}:(.*)\\r?$`, 'm'));
  return m ? m[1].trim() : null;
}

/**
 * Waits until every node is linked to NATS and hears all the others, then
 * until a message published on each node reaches a subscriber on each other
 * node (NATS routes spread subscription interest a moment after connecting).
 */
async function waitLinked(nodes, probes) {
  for (const [i, p] of probes.entries()) {
    await waitFor(
      async () => {
        const info = await p.info('cluster');
        return infoField(info, 'cluster_link') === 'connected' && infoField(info, 'cluster_peers') === String(nodes.length - 1);
      },
      { timeoutMs: LINK_TIMEOUT_MS, what: `node ${i} to link to its ${nodes.length - 1} peers` },
    );
  }
  for (const [j, node] of nodes.entries()) {
    const sub = new Redis({ host: node.host, port: node.port, retryStrategy: () => null, lazyConnect: true });
    sub.on('error', () => {});
    await sub.connect();
    try {
      const heard = new Set();
      sub.on('message', (_ch, msg) => heard.add(msg));
      await sub.subscribe(`probe-${j}`);
      for (const [i, p] of probes.entries()) {
        if (i === j) continue;
        await waitFor(
          async () => {
            await p.publish(`probe-${j}`, `from-${i}`);
            await sleep(50);
            return heard.has(`from-${i}`);
          },
          { timeoutMs: LINK_TIMEOUT_MS, what: `a message from node ${i} to cross to node ${j}` },
        );
      }
    } finally {
      sub.disconnect();
    }
  }
}

/**
 * Waits until every node counts every adapter's subscriptions: the counts
 * of the other nodes arrive in their reports, and the adapters count their
 * servers with NUMSUB (SHARDNUMSUB when sharded).
 */
async function waitSubscribed(probes, sharded, adapters) {
  const n = adapters.length;
  for (const [i, probe] of probes.entries()) {
    await waitFor(
      () => adaptersSubscribed(probe, sharded, adapters),
      { timeoutMs: LINK_TIMEOUT_MS, what: `node ${i} to count all ${n} adapters' subscriptions` },
    );
  }
}

/**
 * A socket.io server on its own 127.0.0.1 port whose adapter uses its own
 * Redis clients on `node`; `cleanups` gets what closes it (its Redis
 * clients after it). `close()` closes it at once.
 */
async function ioServer(node, variant, cleanups) {
  const pair = await redisPair(node, variant);
  const httpServer = http.createServer();
  const sharded = variant.adapter === 'sharded';
  const adapter = sharded ? createShardedAdapter(pair.pub, pair.sub) : createAdapter(pair.pub, pair.sub);
  const io = new Server(httpServer, { adapter });
  let closed = null;
  const close = () => {
    closed ??= (async () => {
      await new Promise((resolve) => io.close(() => resolve()));
      await pair.close();
    })();
    return closed;
  };
  cleanups.push(close);
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', resolve);
  });
  return { io, port: httpServer.address().port, close };
}

const VARIANTS = [
  { adapter: 'classic', lib: 'ioredis' },
  { adapter: 'classic', lib: 'node-redis', RESP: 3 },
  { adapter: 'sharded', lib: 'node-redis', RESP: 2 },
];

describe('socket.io on a pubsubd cluster', { skip: SKIP }, () => {
  let nats;
  let nodes = [];
  let probes = [];
  before(async () => {
    nats = await startNatsCluster(NODES);
    const name = `sio${process.pid}`;
    for (let i = 0; i < NODES; i++) {
      // Each node lists its own NATS server first, then the others.
      const urls = nats.urls.slice(i).concat(nats.urls.slice(0, i)).join(',');
      nodes.push(await startServer(['--cluster-nats', urls, '--cluster-name', name]));
    }
    for (const node of nodes) {
      const p = new Redis({ host: node.host, port: node.port, retryStrategy: () => null, lazyConnect: true });
      p.on('error', () => {});
      await p.connect();
      probes.push(p);
    }
    await waitLinked(nodes, probes);
  }, HOOK_TIMEOUT);
  after(async () => {
    for (const p of probes) await p.quit().catch(() => p.disconnect());
    for (const n of nodes) await n.stop();
    await nats?.stop();
    nodes = [];
    probes = [];
  }, HOOK_TIMEOUT);

  for (const variant of VARIANTS) {
    const label = `${variant.adapter} adapter via ${variant.lib}${variant.RESP ? ` RESP${variant.RESP}` : ''}`;
    const sharded = variant.adapter === 'sharded';

    test(`${label}: one socket.io server per node; broadcasts once everywhere, fetchSockets, serverSideEmit acks`, TEST_TIMEOUT, async (t) => {
      const cleanups = [];
      t.after(async () => {
        for (const fn of cleanups.reverse()) {
          try {
            await fn();
          } catch {
            // keep closing the rest
          }
        }
      });

      // One socket.io server per node.
      const servers = [];
      for (const node of nodes) servers.push(await ioServer(node, variant, cleanups));
      const adapters = servers.map((s) => s.io.of('/').adapter);
      await waitSubscribed(probes, sharded, adapters);
      // serverCount(): NUMSUB (SHARDNUMSUB) of the cluster, not of one node.
      for (const ad of adapters) assert.equal(await ad.serverCount(), NODES);

      // Servers 0 and 2 put their sockets in the room; server 1 does not.
      servers.forEach((s, i) => s.io.on('connection', (socket) => i !== 1 && socket.join(ROOM)));
      const clients = [];
      for (const [i, s] of servers.entries()) {
        const c = ioClient(`http://127.0.0.1:${s.port}`, { transports: ['websocket'], reconnection: false, timeout: 3_000 });
        cleanups.push(() => c.disconnect());
        await once(c, 'connect');
        c.on('ping-ack', (cb) => cb(`pong-${i}`));
        clients.push(c);
      }
      if (sharded) {
        // Dynamic mode: servers with room members SSUBSCRIBE the room's
        // channel; every node must count both before a room broadcast.
        for (const probe of probes) {
          await waitFor(async () => (await numSub(probe, true, `socket.io#/#${ROOM}#`)) === 2, {
            timeoutMs: LINK_TIMEOUT_MS,
            what: `the room's channel to count 2 subscribers`,
          });
        }
      }

      // (a) A global broadcast from every server reaches every client once.
      const global = clients.map((c) => {
        const col = collector();
        c.on('global-event', (...args) => col.push(args));
        return col;
      });
      const room = clients.map((c) => {
        const col = collector();
        c.on('room-event', (...args) => col.push(args));
        return col;
      });
      servers.forEach((s, i) => s.io.emit('global-event', { from: i, bin: Buffer.from([0x00, 0x0d, 0x0a, 0xff, i]) }));
      for (const [j, col] of global.entries()) {
        const got = [];
        for (let k = 0; k < NODES; k++) got.push(await col.next());
        const from = got.map(([m]) => m.from).sort();
        assert.deepEqual(from, [0, 1, 2], `client ${j} got broadcasts from ${from}`);
        for (const [m] of got) {
          assert.ok(Buffer.from(m.bin).equals(Buffer.from([0x00, 0x0d, 0x0a, 0xff, m.from])), 'binary changed in transit');
        }
      }
      // (b) A room broadcast from the server without room members reaches
      // the room's clients on the two other nodes, and no one else.
      servers[1].io.to(ROOM).emit('room-event', 'to the room');
      assert.deepEqual(await room[0].next(), ['to the room']);
      assert.deepEqual(await room[2].next(), ['to the room']);
      await sleep(QUIET_MS);
      for (const [j, col] of global.entries()) assert.equal(col.items.length, 0, `client ${j} got a broadcast twice`);
      assert.equal(room[1].items.length, 0, 'a client outside the room got the room broadcast');
      for (const j of [0, 2]) assert.equal(room[j].items.length, 0, `client ${j} got the room broadcast twice`);

      // (c) fetchSockets from every server sees the sockets of all three.
      const ids = clients.map((c) => c.id).sort();
      for (const [i, s] of servers.entries()) {
        const all = await s.io.fetchSockets();
        assert.deepEqual(all.map((x) => x.id).sort(), ids, `fetchSockets on server ${i}`);
        const inRoom = await s.io.in(ROOM).fetchSockets();
        assert.deepEqual(inRoom.map((x) => x.id).sort(), [clients[0].id, clients[2].id].sort(), `room on server ${i}`);
      }

      // (d) A broadcast with acks collects one answer per client.
      const answers = await servers[1].io.timeout(4_000).emitWithAck('ping-ack');
      assert.deepEqual(answers.sort(), ['pong-0', 'pong-1', 'pong-2']);

      // (e) serverSideEmit with acks: each server gets exactly one answer
      // from each other server, and each handler runs once per emit.
      const handled = servers.map(() => 0);
      servers.forEach((s, i) =>
        s.io.on('hello-servers', (from, cb) => {
          handled[i] += 1;
          cb(`${i} got ${from}`);
        }),
      );
      for (const [i, s] of servers.entries()) {
        const replies = await s.io.serverSideEmitWithAck('hello-servers', i);
        const want = servers.map((_, j) => j).filter((j) => j !== i).map((j) => `${j} got ${i}`);
        assert.deepEqual(replies.sort(), want, `acks to server ${i}`);
      }
      await sleep(QUIET_MS);
      // Each server handled the emits of the two others, once each.
      assert.deepEqual(handled, [NODES - 1, NODES - 1, NODES - 1]);
    });
  }

  test('a socket.io server that joins or leaves is counted on the other nodes at once', TEST_TIMEOUT, async (t) => {
    // The adapter sends fetchSockets and serverSideEmitWithAck to as many
    // servers as NUMSUB counts: one joining on node 1 must be counted on
    // node 0 before a request from there, and one that left must not be
    // waited for. Nodes report a change within a few ms (at most one report
    // per 100 ms), so the test gives them 150 ms.
    const variant = { adapter: 'classic', lib: 'ioredis' };
    const cleanups = [];
    t.after(async () => {
      for (const fn of cleanups.reverse()) await fn().catch(() => {});
    });
    const servers = [];
    for (const node of nodes) servers.push(await ioServer(node, variant, cleanups));
    await waitSubscribed(probes, false, servers.map((s) => s.io.of('/').adapter));
    const answer = (name) => (s) => s.io.on('who', (cb) => cb(name));
    servers.forEach((s, i) => answer(`s${i}`)(s));

    // Joins on node 1: as soon as node 1 itself counts its response channel
    // (its SUBSCRIBEs are through), and 150 ms later, node 0 counts it too.
    const late = await ioServer(nodes[1], variant, cleanups);
    answer('late')(late);
    const lateUid = late.io.of('/').adapter.uid;
    await waitFor(async () => (await numSub(probes[1], false, `socket.io-response#/#${lateUid}#`)) === 1, {
      what: "the late server's SUBSCRIBEs",
    });
    await sleep(150);
    assert.equal(await servers[0].io.of('/').adapter.serverCount(), NODES + 1);
    const joined = await servers[0].io.serverSideEmitWithAck('who');
    assert.deepEqual(joined.sort(), ['late', 's1', 's2']);

    // Leaves: closed (its Redis connections too); 150 ms later node 0 no
    // longer counts it, and a request from there does not wait for it
    // (which would take the adapter's requestsTimeout, 5 s, and fail).
    await late.close();
    await sleep(150);
    const t0 = Date.now();
    const left = await servers[0].io.serverSideEmitWithAck('who');
    assert.deepEqual(left.sort(), ['s1', 's2']);
    assert.ok(Date.now() - t0 < 2_000, `serverSideEmitWithAck took ${Date.now() - t0} ms`);
  });
});
