// A connected pub/sub client pair (publisher and subscriber) of one of the
// Redis client libraries the socket.io adapter tests run with.
import Redis from 'ioredis';
import { createClient } from 'redis';

/** Opens a connected pub/sub client pair of the variant's library on `server` ({ host, port }). */
export async function redisPair(server, variant) {
  if (variant.lib === 'ioredis') {
    const make = () => {
      const c = new Redis({
        host: server.host,
        port: server.port,
        connectTimeout: 3_000,
        maxRetriesPerRequest: 1,
        retryStrategy: () => null,
        lazyConnect: true,
      });
      c.on('error', () => {});
      return c;
    };
    const pub = make();
    const sub = make();
    await Promise.all([pub.connect(), sub.connect()]);
    return { pub, sub, close: () => Promise.all([pub.quit(), sub.quit()]).catch(() => [pub, sub].forEach((c) => c.disconnect())) };
  }
  const pub = createClient({
    ...(variant.RESP === 3 ? { RESP: 3 } : {}),
    socket: { host: server.host, port: server.port, connectTimeout: 3_000, reconnectStrategy: false },
  });
  const sub = pub.duplicate();
  pub.on('error', () => {});
  sub.on('error', () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const closeOne = async (c) => {
    if (!c.isOpen) return;
    try {
      await c.close();
    } catch {
      c.destroy();
    }
  };
  return { pub, sub, close: () => Promise.all([closeOne(pub), closeOne(sub)]) };
}

/** PUBSUB NUMSUB or SHARDNUMSUB of `channel`, asked through `probe` (ioredis). */
export async function numSub(probe, sharded, channel) {
  const reply = await probe.call('PUBSUB', sharded ? 'SHARDNUMSUB' : 'NUMSUB', channel);
  return Number(reply[1]);
}

/**
 * Whether the server `probe` talks to counts every channel the given
 * socket.io adapters listen on once per adapter, and their one pattern. Once
 * an adapter's last SUBSCRIBE is through, the PSUBSCRIBE it sent before on
 * the same connection is too (NUMPAT counts distinct patterns: 1 here).
 */
export async function adaptersSubscribed(probe, sharded, adapters) {
  const n = adapters.length;
  if (sharded) {
    if ((await numSub(probe, true, 'socket.io#/#')) !== n) return false;
    for (const ad of adapters) if ((await numSub(probe, true, `socket.io#/#${ad.uid}#`)) !== 1) return false;
    return true;
  }
  if ((await numSub(probe, false, 'socket.io-request#/#')) !== n) return false;
  if ((await numSub(probe, false, 'socket.io-response#/#')) !== n) return false;
  for (const ad of adapters) if ((await numSub(probe, false, `socket.io-response#/#${ad.uid}#`)) !== 1) return false;
  return Number(await probe.call('PUBSUB', 'NUMPAT')) === 1;
}
