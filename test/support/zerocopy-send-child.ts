// One zero-copy send over loopback inside a network namespace of its own (the test starts
// this file with `unshare -n`), where net.core.optmem_max (per namespace) can be lowered
// without touching the host's. Prints one JSON line: the transfer's report and what the
// receiver got.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';

import { transfer } from '../../src/transfer/index.js';

const optionMemory = Number(process.argv[2] ?? '1024');
const size = Number(process.argv[3] ?? String(8 * 1024 * 1024));

execFileSync('ip', ['link', 'set', 'lo', 'up']);
writeFileSync('/proc/sys/net/core/optmem_max', String(optionMemory));

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('no TCP address');
const received = new Promise<{ bytes: number; hash: string }>((resolve) => {
  server.once('connection', (socket: Socket) => {
    const hasher = createHash('sha256');
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
      hasher.update(chunk);
    });
    socket.once('end', () => resolve({ bytes, hash: hasher.digest('hex') }));
  });
});
const client = connect(address.port, '127.0.0.1');
await new Promise<void>((resolve) => client.once('connect', resolve));
const payload = randomBytes(size);
// 64 KiB sends: many completions, so that unread ones use up the socket's option memory.
const report = await transfer(payload, client, { zeroCopy: 'always' });
client.end();
const got = await received;
server.close();
process.stdout.write(
  `${JSON.stringify({ report, sent: size, received: got.bytes, intact: got.hash === createHash('sha256').update(payload).digest('hex') })}\n`,
);
