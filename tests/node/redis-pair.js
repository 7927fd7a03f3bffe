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
