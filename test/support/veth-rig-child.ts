// The processes of the veth rig's tests, each run inside one of its network namespaces
// (`ip netns exec <name> node veth-rig-child.js <mode> ...`). Each prints JSON lines.
//
//   receive <port>                         TCP: prints {"ready":true}, then {bytes, hash} of
//                                          the one connection it accepts
//   udp-drop <address> <bytes> <sendBytes> transfer() of a fresh Buffer into a connected
//                                          dgram socket; says whether the Buffer stayed alive while
//                                          the transfer was pending and was freed after
//   tcp-reuse <address> <port> <rounds> <bytes> transfer|raw
//                                          sends <rounds> contents through ONE Buffer, refilling
//                                          it as soon as each send is over: after transfer()
//                                          settles, or (raw) right after sendZeroCopy returns
import { createHash, randomFillSync } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { enableZeroCopy, sendZeroCopy, socketDescriptor } from '../../src/primitives/socket.js';
import { transfer } from '../../src/transfer/index.js';

const [mode, ...args] = process.argv.slice(2);
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function receive(port: number): Promise<void> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '0.0.0.0', resolve));
  print({ ready: true });
  const socket = await new Promise<Socket>((resolve) => server.once('connection', resolve));
  server.close();
  const hasher = createHash('sha256');
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.byteLength;
    hasher.update(chunk);
  });
  await new Promise<void>((resolve) => socket.once('end', resolve));
  print({ bytes, hash: hasher.digest('hex') });
}

const gc = (globalThis as { gc?: () => void }).gc;

async function udpDrop(address: string, size: number, sendBytes: number): Promise<void> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.connect(9, address, resolve));
  let bytes: Buffer | undefined = randomFillSync(Buffer.allocUnsafeSlow(size));
  const memory = new WeakRef(bytes.buffer);
  // The socket itself, not its descriptor: transfer() stops it receiving meanwhile, or Node 24's
  // event loop would read (and lose) the completions from its error queue.
  const pending = transfer(bytes, socket, { zeroCopyBytes: sendBytes });
  // The caller lets go of its Buffer at once: only the transfer keeps the memory alive now.
  bytes = undefined;
  let heldWhilePending = true;
  let pendingChecks = 0;
  let settled = false;
  void pending.finally(() => {
    settled = true;
  });
  while (!settled) {
    gc?.();
    pendingChecks++;
    if (memory.deref() === undefined) heldWhilePending = false;
    await sleep(1);
  }
  const report = await pending;
  let freedAfter = false;
  for (let i = 0; i < 50 && !freedAfter; i++) {
    await sleep(5);
    gc?.();
    freedAfter = memory.deref() === undefined;
  }
  socket.close();
  print({ report, heldWhilePending, pendingChecks, freedAfter, gc: gc !== undefined });
}

async function tcpReuse(address: string, port: number, rounds: number, size: number, how: string): Promise<void> {
  const socket = connect(port, address);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const bytes = Buffer.allocUnsafeSlow(size);
  const intended = createHash('sha256');
  const reports = [];
  const fd = socketDescriptor(socket);
  if (how === 'raw') enableZeroCopy(fd);
  for (let round = 0; round < rounds; round++) {
    // Reuse: the same memory gets the next round's contents as soon as the send is over.
    randomFillSync(bytes);
    intended.update(bytes);
    if (how === 'transfer') {
      reports.push(await transfer(bytes, socket, { zeroCopy: 'always' }));
      continue;
    }
    // The primitive, used without waiting for its completions: what transfer() must not do.
    for (let offset = 0; offset < size; ) {
      try {
        offset += sendZeroCopy(fd, bytes.subarray(offset));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' && (error as NodeJS.ErrnoException).code !== 'ENOBUFS')
          throw error;
        await sleep(1);
      }
    }
  }
  // Refill once more before closing: pages still queued would now carry these bytes.
  randomFillSync(bytes);
  socket.end();
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  print({ intended: intended.digest('hex'), bytes: rounds * size, reports });
}

if (mode === 'receive') await receive(Number(args[0]));
else if (mode === 'udp-drop') await udpDrop(String(args[0]), Number(args[1]), Number(args[2]));
else if (mode === 'tcp-reuse')
  await tcpReuse(String(args[0]), Number(args[1]), Number(args[2]), Number(args[3]), String(args[4]));
else throw new Error(`unknown mode ${mode}`);
