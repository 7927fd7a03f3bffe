// node-redis (the `redis` package, v5) with an ACL user name, in RESP2 (AUTH
// user pass) and RESP3 (HELLO 3 AUTH user pass): a user limited to `&app1:*`
// publishes and subscribes there and gets NOPERM elsewhere. Checked against
// redis-server 7.0.15 (PUBSUBD_TEST_BIN=$(which redis-server)).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createClient } from 'redis';
import { collector, startServer } from './harness.js';

const TEST_TIMEOUT = { timeout: 15_000 };
const RULES = ['on', '>app1 pw', 'resetchannels', '&app1:*', '-@all', '+@pubsub', '+ping'];

for (const RESP of [2, 3]) {
  describe(`node-redis ACL user, RESP${RESP}`, () => {
    let server;
    const clients = [];
    const open = async (options) => {
      const client = createClient({
        ...(RESP === 3 ? { RESP: 3 } : {}),
        ...options,
        socket: { host: server.host, port: server.port, connectTimeout: 3_000, reconnectStrategy: false },
      });
      clients.push(client);
      client.on('error', () => {});
      await client.connect();
      return client;
    };
    before(async () => {
      server = await startServer();
      const admin = await open({});
      assert.equal(await admin.sendCommand(['ACL', 'SETUSER', 'app1', ...RULES]), 'OK');
    });
    after(async () => {
      await Promise.all(clients.filter((c) => c.isOpen).map((c) => c.close().catch(() => c.destroy())));
      await server?.stop();
    });

    test('publishes and subscribes only on app1:*', TEST_TIMEOUT, async () => {
      const app = await open({ username: 'app1', password: 'app1 pw' });
      assert.equal(await app.ping(), 'PONG');
      await assert.rejects(app.publish('app2:news', 'x'), /NOPERM this user has no permissions to access one of the channels/);
      await assert.rejects(app.get('key'), /NOPERM this user has no permissions to run the 'get' command/);

      const sub = await open({ username: 'app1', password: 'app1 pw' });
      const got = collector();
      await sub.subscribe('app1:news', (message, channel) => got.push([channel, message]));
      assert.equal(await app.publish('app1:news', 'hello'), 1);
      assert.deepEqual(await got.next(), ['app1:news', 'hello']);

      const other = await open({ username: 'app1', password: 'app1 pw' });
      await assert.rejects(other.subscribe('app2:news', () => {}), /NOPERM/);
      await assert.rejects(other.pSubscribe('app1:n*', () => {}), /NOPERM/);
    });

    test('a wrong password is refused', TEST_TIMEOUT, async () => {
      await assert.rejects(open({ username: 'app1', password: 'wrong' }), /WRONGPASS/);
    });
  });
}
