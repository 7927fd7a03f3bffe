// ioredis against a running server: its connection handshake and INFO ready
// check (with and without a password, with a non-zero database), pub/sub, pattern
// pub/sub and byte-exact binary payloads.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Redis from 'ioredis';
import { allBytes, collector, once, startServer } from './harness.js';

const TEST_TIMEOUT = { timeout: 15_000 };

// What each client's INFO ready check parsed (ioredis hands it to its connector's
// check(); the spy below records it so a test can look at it).
const readyInfo = new WeakMap();

/** Opens ioredis clients with bounded retries and closes them all at the end. */
function clientPool(server, defaults = {}) {
  const clients = [];
  return {
    /** A new client; resolves once ioredis reports it `ready` (ready check passed). */
    async open(options = {}) {
      const client = new Redis({
        host: server.host,
        port: server.port,
        connectTimeout: 3_000,
        maxRetriesPerRequest: 1,
        retryStrategy: () => null, // never reconnect: a failure must show up
        ...defaults,
        ...options,
        lazyConnect: true,
      });
      clients.push(client);
      // An unhandled 'error' event would crash the process; tests that expect
      // errors attach their own listener.
      client.on('error', () => {});
      const check = client.connector.check.bind(client.connector);
      client.connector.check = (info) => {
        readyInfo.set(client, info);
        return check(info);
      };
      const ready = once(client, 'ready');
      await client.connect();
      await ready;
      return client;
    },
    /** A client that is expected to fail; resolves with the first error. */
    async failing(options = {}) {
      const client = new Redis({
        host: server.host,
        port: server.port,
        connectTimeout: 3_000,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
        lazyConnect: true,
        ...defaults,
        ...options,
      });
      clients.push(client);
      const firstError = once(client, 'error');
      client.connect().catch(() => {});
      const [err] = await firstError;
      return { client, err };
    },
    async closeAll() {
      await Promise.all(
        clients.map(async (c) => {
          if (c.status === 'ready') {
            try {
              assert.equal(await c.quit(), 'OK');
              return;
            } catch {
              // fall through to a hard close
            }
          }
          c.disconnect();
        }),
      );
    },
  };
}

describe('ioredis without a password', () => {
  let server;
  let pool;
  before(async () => {
    server = await startServer();
    pool = clientPool(server);
  });
  after(async () => {
    await pool?.closeAll();
    await server?.stop();
  });

  test('ioredis ready check: INFO is parsed and the client becomes ready', TEST_TIMEOUT, async () => {
    const client = await pool.open();
    assert.equal(client.status, 'ready');
    const info = readyInfo.get(client);
    assert.ok(info, 'ioredis stored no INFO from its ready check');
    assert.match(info.redis_version, /^7\.\d+\.\d+$/);
    assert.equal(info.redis_mode, 'standalone');
    assert.equal(info.role, 'master');
    assert.equal(info.loading, '0');
    assert.match(info.run_id, /^[0-9a-f]{40}$/);
    assert.equal(await client.ping(), 'PONG');
    assert.equal(await client.echo('hi'), 'hi');
  });

  test('ioredis db: 3 sends SELECT before the ready check; pub/sub ignores the db', TEST_TIMEOUT, async () => {
    const sub = await pool.open({ db: 3 });
    assert.equal(sub.status, 'ready');
    const clientInfo = await sub.client('INFO');
    assert.match(clientInfo, / db=3 /, `CLIENT INFO: ${clientInfo}`);

    const pub = await pool.open(); // database 0
    const got = collector();
    sub.on('message', (channel, message) => got.push([channel, message]));
    assert.equal(await sub.subscribe('db-crossing'), 1);
    assert.equal(await pub.publish('db-crossing', 'from db 0'), 1);
    assert.deepEqual(await got.next(), ['db-crossing', 'from db 0']);
  });

  test('ioredis pub/sub: SUBSCRIBE counts, message events, PUBLISH receiver counts', TEST_TIMEOUT, async () => {
    const pub = await pool.open();
    const subA = await pool.open();
    const subB = await pool.open();
    const psub = await pool.open();
    const gotA = collector();
    const gotB = collector();
    const gotP = collector();
    subA.on('message', (channel, message) => gotA.push([channel, message]));
    subB.on('message', (channel, message) => gotB.push([channel, message]));
    psub.on('pmessage', (pattern, channel, message) => gotP.push([pattern, channel, message]));

    // Several channels in one SUBSCRIBE: ioredis resolves with the final count.
    assert.equal(await subA.subscribe('news', 'sport', 'weather'), 3);
    assert.equal(await subB.subscribe('news'), 1);
    assert.equal(await psub.psubscribe('ne*'), 1);

    assert.equal(await pub.publish('news', 'hello'), 3, 'two subscribers + one pattern');
    assert.deepEqual(await gotA.next(), ['news', 'hello']);
    assert.deepEqual(await gotB.next(), ['news', 'hello']);
    assert.deepEqual(await gotP.next(), ['ne*', 'news', 'hello']);

    assert.equal(await pub.publish('sport', 'goal'), 1);
    assert.deepEqual(await gotA.next(), ['sport', 'goal']);
    assert.equal(await pub.publish('nobody-listens', 'x'), 0);

    // PING while subscribed is answered in the subscribed shape.
    assert.deepEqual(await subA.ping(), ['pong', '']);

    // After UNSUBSCRIBE the count drops, and order is kept for the rest.
    assert.equal(await subB.unsubscribe('news'), 0);
    assert.equal(await pub.publish('news', 'second'), 2);
    assert.deepEqual(await gotA.next(), ['news', 'second']);
    assert.deepEqual(await gotP.next(), ['ne*', 'news', 'second']);

    // subB left subscriber mode: normal commands work again.
    assert.equal(await subB.ping(), 'PONG');

    // Messages arrive in publish order.
    for (let i = 0; i < 50; i++) await pub.publish('weather', `m${i}`);
    for (let i = 0; i < 50; i++) assert.deepEqual(await gotA.next(), ['weather', `m${i}`]);
    assert.equal(gotB.items.length, 0);
  });

  test('ioredis pattern pub/sub: psubscribe + pmessageBuffer, one delivery per matching pattern', TEST_TIMEOUT, async () => {
    const pub = await pool.open();
    const psub = await pool.open();
    const got = collector();
    psub.on('pmessageBuffer', (pattern, channel, message) => got.push({ pattern, channel, message }));

    assert.equal(await psub.psubscribe('chat.*', 'chat.?x', 'chat.[ab]x'), 3);
    assert.equal(await pub.publish('chat.ax', 'both'), 3, 'three patterns match');
    const seen = [await got.next(), await got.next(), await got.next()];
    assert.deepEqual(seen.map((m) => String(m.pattern)).sort(), ['chat.*', 'chat.?x', 'chat.[ab]x']);
    for (const m of seen) {
      assert.ok(Buffer.isBuffer(m.channel) && Buffer.isBuffer(m.message));
      assert.equal(m.channel.toString(), 'chat.ax');
      assert.equal(m.message.toString(), 'both');
    }

    assert.equal(await pub.publish('chat.room', 'one'), 1);
    const one = await got.next();
    assert.equal(String(one.pattern), 'chat.*');
    assert.equal(one.channel.toString(), 'chat.room');

    const payload = allBytes();
    assert.equal(await pub.publish(Buffer.from('chat.b\x00x', 'latin1'), payload), 1);
    const bin = await got.next();
    assert.equal(String(bin.pattern), 'chat.*');
    assert.ok(bin.channel.equals(Buffer.from('chat.b\x00x', 'latin1')), `channel ${bin.channel.toString('hex')}`);
    assert.ok(bin.message.equals(payload), `message ${bin.message.toString('hex')}`);

    assert.equal(await psub.punsubscribe('chat.*'), 2);
    assert.equal(await pub.publish('chat.room', 'gone'), 0);
    assert.equal(await pub.publish('chat.zx', 'still'), 1);
    const still = await got.next();
    assert.equal(String(still.pattern), 'chat.?x');
  });

  test('ioredis binary payloads: 0x00, CRLF and 0xff round-trip byte-exact via messageBuffer', TEST_TIMEOUT, async () => {
    const pub = await pool.open();
    const sub = await pool.open();
    const got = collector();
    sub.on('messageBuffer', (channel, message) => got.push({ channel, message }));

    const channel = Buffer.from([0x62, 0x00, 0x0d, 0x0a, 0xff, 0x69, 0x6e]);
    assert.equal(await sub.subscribe(channel), 1);

    const payloads = [
      allBytes(),
      Buffer.from([0x00]),
      Buffer.from('\r\n'),
      Buffer.from([0xff, 0xfe, 0x00, 0x0d, 0x0a, 0x0d, 0x0a]),
      Buffer.from('$5\r\nhello\r\n*1\r\n'), // looks like RESP, must stay data
      Buffer.alloc(0),
      Buffer.alloc(100_000, 0xab),
    ];
    for (const p of payloads) assert.equal(await pub.publish(channel, p), 1);
    for (const p of payloads) {
      const m = await got.next();
      assert.ok(m.channel.equals(channel), `channel ${m.channel.toString('hex')}`);
      assert.equal(m.message.length, p.length);
      assert.ok(m.message.equals(p), `payload of ${p.length} bytes differs`);
    }
  });
});

describe('ioredis with --requirepass', () => {
  let server;
  let pool;
  before(async () => {
    server = await startServer(['--requirepass', 's3cret pw']);
    pool = clientPool(server);
  });
  after(async () => {
    await pool?.closeAll();
    await server?.stop();
  });

  test('ioredis password: AUTH then INFO ready check; with db: 3 as well', TEST_TIMEOUT, async () => {
    const client = await pool.open({ password: 's3cret pw' });
    assert.equal(client.status, 'ready');
    assert.match(readyInfo.get(client).redis_version, /^7\./);
    assert.equal(await client.ping(), 'PONG');

    const withDb = await pool.open({ password: 's3cret pw', db: 3 });
    assert.match(await withDb.client('INFO'), / db=3 /);

    const withUser = await pool.open({ username: 'default', password: 's3cret pw' });
    assert.equal(await withUser.ping(), 'PONG');

    // Pub/sub on authenticated connections.
    const got = collector();
    withDb.on('message', (channel, message) => got.push([channel, message]));
    assert.equal(await withDb.subscribe('secure'), 1);
    assert.equal(await client.publish('secure', 'ok'), 1);
    assert.deepEqual(await got.next(), ['secure', 'ok']);
  });

  test('ioredis password: a wrong password and a missing one are refused', TEST_TIMEOUT, async () => {
    const wrong = await pool.failing({ password: 'nope' });
    assert.match(
      wrong.err.message,
      /^WRONGPASS invalid username-password pair or user is disabled\.$/,
      wrong.err.message,
    );
    const missing = await pool.failing({});
    assert.match(missing.err.message, /NOAUTH Authentication required\./, missing.err.message);
  });
});
