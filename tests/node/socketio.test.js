// socket.io 4 with @socket.io/redis-adapter: two socket.io servers in this
// process, each on its own port with its own pair of Redis clients, share one
// server under test as their backplane. A socket.io-client connected to server A
// must receive what server B emits, and the adapters must count two servers.
//
// Variants: the classic adapter (PSUBSCRIBE/SUBSCRIBE/PUBLISH, PUBSUB NUMSUB)
// and the sharded adapter (SSUBSCRIBE/SPUBLISH, PUBSUB SHARDNUMSUB), each driven
// by node-redis in RESP2 and RESP3 and by ioredis.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import Redis from 'ioredis';
import { Server } from 'socket.io';
import { io as ioClient } from 'socket.io-client';
import { collector, once, startServer, waitFor } from './harness.js';
import { adaptersSubscribed, numSub, redisPair } from './redis-pair.js';

const TEST_TIMEOUT = { timeout: 15_000 };
const ROOM = 'room-1';

const VARIANTS = [
  { adapter: 'classic', lib: 'node-redis', RESP: 2 },
  { adapter: 'classic', lib: 'node-redis', RESP: 3 },
  { adapter: 'classic', lib: 'ioredis' },
  { adapter: 'sharded', lib: 'node-redis', RESP: 2 },
  { adapter: 'sharded', lib: 'node-redis', RESP: 3 },
  { adapter: 'sharded', lib: 'ioredis' },
];

/** Starts a socket.io server on its own ephemeral 127.0.0.1 port. */
async function ioServer(pair, variant) {
  const httpServer = http.createServer();
  const adapter =
    variant.adapter === 'sharded' ? createShardedAdapter(pair.pub, pair.sub) : createAdapter(pair.pub, pair.sub);
  const io = new Server(httpServer, { adapter });
  await new Promise((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(0, '127.0.0.1', resolve);
  });
  return { io, port: httpServer.address().port };
}

/** A socket.io-client connected to `port`; resolves once the connection is up. */
async function browserClient(port) {
  const socket = ioClient(`http://127.0.0.1:${port}`, {
    transports: ['websocket'],
    reconnection: false,
    timeout: 3_000,
  });
  await once(socket, 'connect');
  return socket;
}

/**
 * Waits until every channel that the given adapters listen on has its
 * subscribers, asking the server directly (the adapters subscribe without
 * telling when they are done).
 */
async function waitSubscribed(probe, sharded, adapters) {
  await waitFor(
    () => adaptersSubscribed(probe, sharded, adapters),
    { what: 'both adapters to subscribe' },
  );
}

/**
 * Two socket.io servers, A and B, each with its own Redis client pair, on the
 * server under test. Everything is closed when the test `t` ends.
 */
async function twoServers(t, server, variant) {
  const cleanups = [];
  t.after(async () => {
    // Browser clients first, then socket.io servers (their adapters
    // unsubscribe), then the Redis clients.
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        // keep closing the rest
      }
    }
  });
  const pairA = await redisPair(server, variant);
  cleanups.push(pairA.close);
  const pairB = await redisPair(server, variant);
  cleanups.push(pairB.close);
  const a = await ioServer(pairA, variant);
  cleanups.push(() => a.io.close());
  const b = await ioServer(pairB, variant);
  cleanups.push(() => b.io.close());
  a.io.on('connection', (socket) => socket.join(ROOM));
  return {
    a,
    b,
    /** Browser clients of A and of B. */
    async clients() {
      const clientA = await browserClient(a.port);
      cleanups.push(() => clientA.disconnect());
      const clientB = await browserClient(b.port);
      cleanups.push(() => clientB.disconnect());
      // What the browsers answer to a broadcast that asks for acknowledgements.
      clientA.on('ping-ack', (cb) => cb('pong-A'));
      clientB.on('ping-ack', (cb) => cb('pong-B'));
      return { clientA, clientB };
    },
  };
}

for (const variant of VARIANTS) {
  const label = `socket.io ${variant.adapter} adapter via ${variant.lib}${variant.RESP ? ` RESP${variant.RESP}` : ''}`;
  const sharded = variant.adapter === 'sharded';

  describe(label, () => {
    let server;
    let probe;
    before(async () => {
      server = await startServer();
      probe = new Redis({ host: server.host, port: server.port, retryStrategy: () => null, lazyConnect: true });
      probe.on('error', () => {});
      await probe.connect();
    });
    after(async () => {
      await probe?.quit().catch(() => probe.disconnect());
      await server?.stop();
    });

    test(`${label}: room and global broadcasts from B reach a client of A; serverCount() is 2`, TEST_TIMEOUT, async (t) => {
      const { a, b, clients } = await twoServers(t, server, variant);
      const adapterA = a.io.of('/').adapter;
      const adapterB = b.io.of('/').adapter;
      await waitSubscribed(probe, sharded, [adapterA, adapterB]);

      // serverCount(): PUBSUB NUMSUB (classic) or PUBSUB SHARDNUMSUB (sharded).
      assert.equal(await adapterA.serverCount(), 2);
      assert.equal(await adapterB.serverCount(), 2);

      const { clientA, clientB } = await clients();
      const roomAtA = collector();
      const roomAtB = collector();
      const globalAtA = collector();
      const globalAtB = collector();
      clientA.on('room-event', (...args) => roomAtA.push(args));
      clientB.on('room-event', (...args) => roomAtB.push(args));
      clientA.on('global-event', (...args) => globalAtA.push(args));
      clientB.on('global-event', (...args) => globalAtB.push(args));

      if (sharded) {
        // Dynamic mode: server A SSUBSCRIBEs a channel of its own for the room
        // when the room is created.
        await waitFor(async () => (await numSub(probe, true, `socket.io#/#${ROOM}#`)) === 1, {
          what: `A to SSUBSCRIBE socket.io#/#${ROOM}#`,
        });
      }

      // (a) A room broadcast from B, with binary data (msgpack on the wire).
      const bin = Buffer.from([0x00, 0x0d, 0x0a, 0xff, 0x80, 0x00]);
      b.io.to(ROOM).emit('room-event', 'to the room', bin, { n: 1 });
      const [text, data, obj] = await roomAtA.next();
      assert.equal(text, 'to the room');
      assert.ok(Buffer.from(data).equals(bin), `binary arrived as ${Buffer.from(data).toString('hex')}`);
      assert.deepEqual(obj, { n: 1 });

      // (b) A global broadcast from B (JSON on the wire) reaches both clients.
      b.io.emit('global-event', { from: 'B', list: [1, 'two', null] });
      assert.deepEqual(await globalAtA.next(), [{ from: 'B', list: [1, 'two', null] }]);
      assert.deepEqual(await globalAtB.next(), [{ from: 'B', list: [1, 'two', null] }]);
      assert.equal(roomAtB.items.length, 0, 'a client outside the room got the room broadcast');

      // And the other way: a global broadcast from A reaches B's client.
      a.io.emit('global-event', 'from A');
      assert.deepEqual(await globalAtB.next(), ['from A']);
      assert.deepEqual(await globalAtA.next(), ['from A']);
    });

    test(`${label}: fetchSockets, serverSideEmit and broadcast acks across servers`, TEST_TIMEOUT, async (t) => {
      const { a, b, clients } = await twoServers(t, server, variant);
      await waitSubscribed(probe, sharded, [a.io.of('/').adapter, b.io.of('/').adapter]);
      const { clientA, clientB } = await clients();

      // fetchSockets from B sees the socket on A, with its room.
      const sockets = await b.io.fetchSockets();
      assert.deepEqual(sockets.map((s) => s.id).sort(), [clientA.id, clientB.id].sort());
      const remote = sockets.find((s) => s.id === clientA.id);
      assert.ok(remote.rooms.has(ROOM), `rooms of A's socket: ${[...remote.rooms]}`);
      const inRoom = await b.io.in(ROOM).fetchSockets();
      assert.deepEqual(
        inRoom.map((s) => s.id),
        [clientA.id],
      );

      // A broadcast with acknowledgements collects one answer per client,
      // across both servers (it relies on serverCount()).
      const answers = await b.io.timeout(4_000).emitWithAck('ping-ack');
      assert.deepEqual(answers.sort(), ['pong-A', 'pong-B']);

      // A server-side emit from B reaches A, and A's answer comes back.
      a.io.on('hello-servers', (x, y, cb) => cb(`A got ${x} ${y}`));
      const replies = await b.io.serverSideEmitWithAck('hello-servers', 'hi', 2);
      assert.deepEqual(replies, ['A got hi 2']);
    });
  });
}
