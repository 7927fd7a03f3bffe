// node-redis (the `redis` package, v5) against a running server, in RESP2 and in
// RESP3 (HELLO 3): pub/sub, pattern pub/sub, sharded pub/sub, Buffer payloads,
// and the password and database options.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { allBytes, collector, startServer } from './harness.js';

const TEST_TIMEOUT = { timeout: 15_000 };
const PASSWORD = 'n0de pw';

/** Opens node-redis clients with no reconnects and closes them all at the end. */
function clientPool(server, defaults = {}) {
  const clients = [];
  return {
    /** A connected client (connect() resolves after the handshake replies). */
    async open(options = {}) {
      const client = createClient({
        ...defaults,
        ...options,
        socket: {
          host: server.host,
          port: server.port,
          connectTimeout: 3_000,
          reconnectStrategy: false, // a failure must show up, not be retried
        },
      });
      clients.push(client);
      client.on('error', () => {}); // errors surface through the promises
      await client.connect();
      return client;
    },
    async closeAll() {
      await Promise.all(
        clients.map(async (c) => {
          if (!c.isOpen) return;
          try {
            await c.close();
          } catch {
            c.destroy();
          }
        }),
      );
    },
  };
}

// RESP2 is node-redis's default: no RESP option, so no HELLO is sent. (Passing
// `RESP: 2` explicitly makes it send `HELLO 2 [AUTH ...]` instead; see the
// password tests.)
for (const RESP of [2, 3]) {
  const respOption = RESP === 3 ? { RESP: 3 } : {};
  describe(`node-redis RESP${RESP}`, () => {
    let server;
    let pool;
    before(async () => {
      server = await startServer();
      pool = clientPool(server, respOption);
    });
    after(async () => {
      await pool?.closeAll();
      await server?.stop();
    });

    test(`node-redis RESP${RESP}: subscribe, listeners, PUBLISH counts, unsubscribe`, TEST_TIMEOUT, async () => {
      const pub = await pool.open();
      const subA = await pool.open();
      const subB = await pool.open();
      assert.equal(await pub.ping(), 'PONG');
      assert.equal(await pub.sendCommand(['HELLO']).then((h) => (Array.isArray(h) ? h[5] : h.proto)), RESP === 3 ? 3 : 2);

      const gotA = collector();
      const gotB = collector();
      const listenerA = (message, channel) => gotA.push([channel, message]);
      // Several channels in one SUBSCRIBE command.
      await subA.subscribe(['orders', 'invoices'], listenerA);
      await subB.subscribe('orders', (message, channel) => gotB.push([channel, message]));
      assert.ok(subA.isPubSubActive);

      assert.deepEqual({ ...(await pub.pubSubNumSub(['orders', 'invoices', 'none'])) }, {
        orders: 2,
        invoices: 1,
        none: 0,
      });
      assert.equal(await pub.publish('orders', 'o-1'), 2);
      assert.deepEqual(await gotA.next(), ['orders', 'o-1']);
      assert.deepEqual(await gotB.next(), ['orders', 'o-1']);
      assert.equal(await pub.publish('invoices', 'i-1'), 1);
      assert.deepEqual(await gotA.next(), ['invoices', 'i-1']);
      assert.equal(await pub.publish('nobody', 'x'), 0);

      // PING while subscribed: RESP2 answers [pong, ""] (node-redis returns
      // 'pong'), RESP3 answers +PONG.
      assert.equal(await subA.ping(), RESP === 3 ? 'PONG' : 'pong');

      await subB.unsubscribe('orders');
      assert.equal(subB.isPubSubActive, false);
      // (After a RESP2 connection leaves subscribed mode, node-redis 5 keeps
      // decoding simple strings as Buffers, hence String().)
      assert.equal(String(await subB.ping()), 'PONG');
      assert.equal(await pub.publish('orders', 'o-2'), 1);
      assert.deepEqual(await gotA.next(), ['orders', 'o-2']);

      for (let i = 0; i < 50; i++) await pub.publish('invoices', `n${i}`);
      for (let i = 0; i < 50; i++) assert.deepEqual(await gotA.next(), ['invoices', `n${i}`]);
      assert.equal(gotB.items.length, 0);

      await subA.unsubscribe();
      assert.equal(await pub.publish('orders', 'o-3'), 0);
    });

    test(`node-redis RESP${RESP}: commands on a subscribed connection`, TEST_TIMEOUT, async () => {
      const pub = await pool.open();
      const sub = await pool.open();
      const got = collector();
      await sub.subscribe('self', (message, channel) => got.push([channel, message]));
      if (RESP === 2) {
        // node-redis sends it; the server refuses it in RESP2 subscribed mode.
        await assert.rejects(sub.publish('self', 'x'), {
          message:
            "ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
        });
        assert.equal(await pub.publish('self', 'from-pub'), 1);
        assert.deepEqual(await got.next(), ['self', 'from-pub']);
      } else {
        // RESP3: any command is allowed, and its reply is not confused with the
        // push frames of messages, including one published by this connection.
        assert.equal(await sub.publish('self', 'to-myself'), 1);
        assert.deepEqual(await got.next(), ['self', 'to-myself']);
        assert.equal(await sub.echo('still a normal reply'), 'still a normal reply');
        const [publishCount] = await Promise.all([pub.publish('self', 'from-pub'), got.next()]);
        assert.equal(publishCount, 1);
        assert.deepEqual({ ...(await sub.pubSubNumSub('self')) }, { self: 1 });
      }
    });

    test(`node-redis RESP${RESP}: pattern pub/sub with pSubscribe`, TEST_TIMEOUT, async () => {
      const pub = await pool.open();
      const psub = await pool.open();
      const sub = await pool.open();
      const got = collector();
      const gotExact = collector();
      await psub.pSubscribe('metrics:*', (message, channel) => got.push(['metrics:*', channel, message]));
      await psub.pSubscribe(['metrics:cpu?', 'h[ae]llo'], (message, channel) => got.push(['other', channel, message]));
      await sub.subscribe('metrics:cpu1', (message, channel) => gotExact.push([channel, message]));
      assert.equal(await pub.pubSubNumPat(), 3);
      // NUMPAT counts distinct patterns, not subscriptions.
      const again = await pool.open();
      await again.pSubscribe('metrics:*', () => {});
      assert.equal(await pub.pubSubNumPat(), 3);

      assert.equal(await pub.publish('metrics:cpu1', '42'), 4, 'three pattern subscriptions + one channel subscriber');
      const two = [await got.next(), await got.next()].sort((a, b) => a[0].localeCompare(b[0]));
      assert.deepEqual(two, [
        ['metrics:*', 'metrics:cpu1', '42'],
        ['other', 'metrics:cpu1', '42'],
      ]);
      assert.deepEqual(await gotExact.next(), ['metrics:cpu1', '42']);

      assert.equal(await pub.publish('hallo', 'a'), 1);
      assert.deepEqual(await got.next(), ['other', 'hallo', 'a']);
      assert.equal(await pub.publish('hillo', 'b'), 0);

      await psub.pUnsubscribe('metrics:*');
      await again.pUnsubscribe('metrics:*');
      assert.equal(await pub.pubSubNumPat(), 2);
      assert.equal(await pub.publish('metrics:mem', 'x'), 0);
      assert.equal(await pub.publish('metrics:cpu2', 'y'), 1);
      assert.deepEqual(await got.next(), ['other', 'metrics:cpu2', 'y']);
      assert.equal(got.items.length, 0);
    });

    test(`node-redis RESP${RESP}: Buffer payloads with subscribe(ch, listener, true)`, TEST_TIMEOUT, async () => {
      const pub = await pool.open();
      const sub = await pool.open();
      const got = collector();
      const gotP = collector();
      await sub.subscribe('bin', (message, channel) => got.push({ channel, message }), true);
      await sub.pSubscribe('bi?', (message, channel) => gotP.push({ channel, message }), true);

      const payloads = [
        allBytes(),
        Buffer.from([0x00]),
        Buffer.from('\r\n'),
        Buffer.from([0xff, 0x00, 0x0d, 0x0a, 0xff]),
        Buffer.from('>3\r\n$7\r\nmessage\r\n'), // looks like a RESP3 push, must stay data
        Buffer.alloc(0),
        Buffer.alloc(70_000, 0x0a),
      ];
      for (const p of payloads) assert.equal(await pub.publish('bin', p), 2);
      for (const p of payloads) {
        for (const c of [got, gotP]) {
          const m = await c.next();
          assert.ok(Buffer.isBuffer(m.message), 'listener in buffer mode got a non-Buffer');
          assert.ok(m.channel.equals(Buffer.from('bin')), `channel ${m.channel.toString('hex')}`);
          assert.ok(m.message.equals(p), `payload of ${p.length} bytes differs: ${m.message.subarray(0, 32).toString('hex')}`);
        }
      }
    });

    test(`node-redis RESP${RESP}: sharded pub/sub with sSubscribe and sPublish`, TEST_TIMEOUT, async () => {
      const pub = await pool.open();
      const sub = await pool.open();
      const got = collector();
      await sub.sSubscribe(['shard-a', 'shard-b'], (message, channel) => got.push([String(channel), message]), true);
      assert.deepEqual({ ...(await pub.pubSubShardNumSub(['shard-a', 'shard-b', 'shard-c'])) }, {
        'shard-a': 1,
        'shard-b': 1,
        'shard-c': 0,
      });
      assert.deepEqual((await pub.pubSubShardChannels()).sort(), ['shard-a', 'shard-b']);
      const payload = allBytes();
      assert.equal(await pub.sPublish('shard-b', payload), 1);
      const [channel, message] = await got.next();
      assert.equal(channel, 'shard-b');
      assert.ok(message.equals(payload));
      // Sharded and classic channels are separate namespaces.
      assert.equal(await pub.publish('shard-a', 'classic'), 0);
      assert.equal(await pub.sPublish('shard-a', 'sharded'), 1);
      assert.equal(String((await got.next())[1]), 'sharded');
      await sub.sUnsubscribe('shard-a');
      assert.equal(await pub.sPublish('shard-a', 'gone'), 0);
      assert.equal(got.items.length, 0);
    });
  });

  describe(`node-redis RESP${RESP} with --requirepass`, () => {
    let server;
    let pool;
    before(async () => {
      server = await startServer(['--requirepass', PASSWORD]);
      pool = clientPool(server, respOption);
    });
    after(async () => {
      await pool?.closeAll();
      await server?.stop();
    });

    test(`node-redis RESP${RESP}: password and database options`, TEST_TIMEOUT, async () => {
      const pub = await pool.open({ password: PASSWORD });
      const sub = await pool.open({ password: PASSWORD, database: 3 });
      const named = await pool.open({ username: 'default', password: PASSWORD, database: 5, name: 'backplane-1' });
      assert.equal(await pub.ping(), 'PONG');
      assert.match(String(await sub.sendCommand(['CLIENT', 'INFO'])), / db=3 /);
      const namedInfo = String(await named.sendCommand(['CLIENT', 'INFO']));
      assert.match(namedInfo, / db=5 /);
      assert.match(namedInfo, / name=backplane-1 /);

      // Pub/sub crosses databases, and works on authenticated connections.
      const got = collector();
      await sub.subscribe('secure', (message, channel) => got.push([channel, message]));
      await named.pSubscribe('sec*', (message, channel) => got.push([channel, message]));
      assert.equal(await pub.publish('secure', 'ok'), 2);
      assert.deepEqual(await got.next(), ['secure', 'ok']);
      assert.deepEqual(await got.next(), ['secure', 'ok']);

      // An explicit protocol authenticates through HELLO <n> AUTH default <pw>.
      const viaHello = await pool.open({ RESP: RESP === 3 ? 3 : 2, password: PASSWORD, database: 2 });
      const helloInfo = String(await viaHello.sendCommand(['CLIENT', 'INFO']));
      assert.match(helloInfo, / db=2 /);
      assert.match(helloInfo, new RegExp(` resp=${RESP}\\s`));
      assert.equal(await viaHello.publish('secure', 'via hello'), 2);
    });

    test(`node-redis RESP${RESP}: wrong or missing password is refused`, TEST_TIMEOUT, async () => {
      await assert.rejects(pool.open({ password: 'wrong' }), (err) => {
        assert.match(err.message, /^WRONGPASS invalid username-password pair or user is disabled\.$/);
        return true;
      });
      if (RESP === 3) {
        // HELLO 3 without AUTH on a server that needs a password.
        await assert.rejects(pool.open({}), (err) => {
          assert.match(err.message, /^NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO (<proto> )?AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time$/);
          return true;
        });
      } else {
        // RESP2 sends no handshake without a password: the first command fails.
        const client = await pool.open({});
        await assert.rejects(client.ping(), { message: 'NOAUTH Authentication required.' });
      }
    });
  });
}
