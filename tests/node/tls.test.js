// ioredis (`tls` option) and node-redis (`rediss://`) over TLS: commands and
// pub/sub against a server with a TLS port, and a client certificate required
// and refused. Certificates are made by the test with the openssl command
// line; no key is kept in the repository.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Redis from 'ioredis';
import { createClient } from 'redis';
import { collector, freePort, startServer } from './harness.js';

const TEST_TIMEOUT = { timeout: 20_000 };

function openssl(dir, args) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

function makeCa(dir, name) {
  openssl(dir, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`]);
}

function issue(dir, ca, name, server) {
  const ext = server
    ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
    : 'extendedKeyUsage=clientAuth\n';
  writeFileSync(path.join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\n${ext}`);
  openssl(dir, ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`,
    '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  return { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
}

describe('TLS', () => {
  let dir;
  let pki;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pubsubd-tls-'));
    makeCa(dir, 'ca');
    makeCa(dir, 'other');
    pki = {
      ca: path.join(dir, 'ca.crt'),
      server: issue(dir, 'ca', 'server', true),
      client: issue(dir, 'ca', 'client', false),
      intruder: issue(dir, 'other', 'intruder', false),
    };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function startTls(auth) {
    const tlsPort = await freePort();
    const server = await startServer(['--tls-port', String(tlsPort), '--tls-cert-file', pki.server.cert,
      '--tls-key-file', pki.server.key, '--tls-ca-cert-file', pki.ca, '--tls-auth-clients', auth]);
    return { server, tlsPort };
  }

  test('ioredis with tls: commands and pub/sub', TEST_TIMEOUT, async () => {
    const { server, tlsPort } = await startTls('no');
    const tls = { ca: readFileSync(pki.ca), servername: 'localhost' };
    const options = { host: '127.0.0.1', port: tlsPort, tls, retryStrategy: () => null, lazyConnect: true };
    const sub = new Redis(options);
    const pub = new Redis(options);
    try {
      await sub.connect();
      await pub.connect();
      assert.equal(await pub.ping(), 'PONG');
      const got = collector();
      sub.on('message', (channel, message) => got.push([channel, message]));
      await sub.subscribe('room');
      const sent = Array.from({ length: 200 }, (_, i) => `msg-${i}-${'y'.repeat(100)}`);
      for (const m of sent) assert.equal(await pub.publish('room', m), 1);
      for (const m of sent) assert.deepEqual(await got.next(), ['room', m]);
    } finally {
      sub.disconnect();
      pub.disconnect();
      await server.stop();
    }
  });

  test('node-redis with rediss:// and a client certificate', TEST_TIMEOUT, async () => {
    const { server, tlsPort } = await startTls('yes');
    const open = async (identity) => {
      const socket = { ca: readFileSync(pki.ca), servername: 'localhost', reconnectStrategy: false };
      if (identity) {
        socket.cert = readFileSync(identity.cert);
        socket.key = readFileSync(identity.key);
      }
      const client = createClient({ url: `rediss://127.0.0.1:${tlsPort}`, socket });
      // With TLS 1.3 the client finishes its side of the handshake before the
      // server checks its certificate: the refusal arrives as an 'error'
      // event, and node-redis (no reconnects) leaves the pending PING unsettled.
      const failed = new Promise((_, reject) => client.on('error', reject));
      failed.catch(() => {});
      try {
        await Promise.race([client.connect(), failed]);
        return await Promise.race([client.ping(), failed]);
      } finally {
        client.destroy();
      }
    };
    try {
      assert.equal(await open(pki.client), 'PONG');
      await assert.rejects(open(null));
      await assert.rejects(open(pki.intruder));
    } finally {
      await server.stop();
    }
  });
});
