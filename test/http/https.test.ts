// HTTPS: the body cannot go through the kernel without kernel TLS, so it is copied, and said so.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { type SendResult, serveStatic } from '../../src/http/index.js';
import { sha256, tempDir } from '../support/fixtures.js';

function get(port: number, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; body: Buffer; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, rejectUnauthorized: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTPS', () => {
  it('serves by copying, reports the fallback, and keeps working', async (t) => {
    const dir = tempDir(t);
    try {
      execFileSync(
        'openssl',
        ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'].concat([
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ]),
        { stdio: 'ignore' },
      );
    } catch {
      t.skip('openssl is not available to make a self-signed certificate; HTTPS fallback not tested');
      return;
    }
    const root = join(dir, 'www');
    execFileSync('mkdir', [root]);
    const bytes = randomBytes(3 * 1024 * 1024 + 7);
    writeFileSync(join(root, 'big.bin'), bytes);
    writeFileSync(join(root, 'small.txt'), 'small\n');
    const results: SendResult[] = [];
    const server = createServer(
      { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
      serveStatic(root, { onResponse: (r) => results.push(r) }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const { port } = server.address() as AddressInfo;

    const big = await get(port, '/big.bin');
    assert.equal(big.status, 200);
    assert.equal(sha256(big.body), sha256(bytes));
    const part = await get(port, '/big.bin', { Range: 'bytes=1000000-1999999' });
    assert.equal(part.status, 206);
    assert.equal(sha256(part.body), sha256(bytes.subarray(1000000, 2000000)));
    assert.equal((await get(port, '/small.txt')).body.toString(), 'small\n');
    const bigResult = results.find((r) => r.path?.endsWith('big.bin'));
    assert.equal(bigResult?.method, 'copy');
    assert.match(bigResult?.fallback?.reason ?? '', /TLS/i, 'the fallback says why');
  });
});
