// UDP sends with segmentation offload (UDP_SEGMENT), run inside network namespaces the tests
// make. Every mode prints one JSON line. Datagrams are described as [length, sha256] pairs,
// so that the test compares what went out with what arrived, boundary by boundary.
//
//   loop <casesJson>             (under `unshare -n`) loopback with the MTU each case asks for:
//                                a receiving UDP socket and a sender per case; prints, per case,
//                                the report, the datagrams expected and the datagrams received
//   receive <port> <bytes>       a UDP receiver on 0.0.0.0:<port>; prints {ready} once bound, then
//                                the datagrams once <bytes> arrived (or after 10 s without one)
//   send <host> <port> <bytes> <zeroCopy> [optmem]
//                                transfer() of a patterned Buffer into a connected UDP socket;
//                                prints the report and the datagrams it should arrive as. With
//                                [optmem], net.core.optmem_max of this namespace is set first
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';

import { binding } from '../../src/binding/load.js';
import { transfer } from '../../src/transfer/index.js';

type Datagram = [number, string];
interface Case {
  mtu: number;
  size: number;
  zeroCopy: 'auto' | 'always' | 'never';
  /** SO_NO_CHECK on the sender: the kernel refuses UDP_SEGMENT (EINVAL). */
  noCheck?: boolean;
  /** Transfers of the same Buffer through the same socket. */
  rounds?: number;
  /** Over ::1 instead of 127.0.0.1. */
  ipv6?: boolean;
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
const digest = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/** Bytes that differ from datagram to datagram, so that a reordered or repeated one shows. */
function patterned(size: number): Buffer {
  const bytes = Buffer.allocUnsafeSlow(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 131 + (i >>> 8) * 7 + (i >>> 16)) & 0xff;
  return bytes;
}

/** The datagrams `bytes` must arrive as: pieces of `segment` bytes, the last one shorter. */
function expectedDatagrams(bytes: Uint8Array, segment: number): Datagram[] {
  const pieces: Datagram[] = [];
  for (let at = 0; at < bytes.byteLength; at += segment) {
    const piece = bytes.subarray(at, Math.min(at + segment, bytes.byteLength));
    pieces.push([piece.byteLength, digest(piece)]);
  }
  return pieces;
}

function descriptorOf(socket: Socket): number {
  return (socket as unknown as { _handle: { fd: number } })._handle.fd;
}

/** Collects datagrams until `bytes` arrived or none came for `idleMs`. */
function collect(socket: Socket, bytes: number, idleMs: number): Promise<Datagram[]> {
  const datagrams: Datagram[] = [];
  let total = 0;
  return new Promise((resolve) => {
    let timer = setTimeout(() => resolve(datagrams), idleMs);
    socket.on('message', (message: Buffer) => {
      datagrams.push([message.byteLength, digest(message)]);
      total += message.byteLength;
      clearTimeout(timer);
      if (total >= bytes) resolve(datagrams);
      else timer = setTimeout(() => resolve(datagrams), idleMs);
    });
  });
}

async function loop(cases: Case[]): Promise<void> {
  const results = [];
  for (const one of cases) {
    execFileSync('ip', ['link', 'set', 'lo', 'mtu', String(one.mtu), 'up']);
    const type = one.ipv6 === true ? 'udp6' : 'udp4';
    const host = one.ipv6 === true ? '::1' : '127.0.0.1';
    const receiver = createSocket({ type, recvBufferSize: 4 * 1024 * 1024 });
    await new Promise<void>((resolve) => receiver.bind(0, host, resolve));
    const sender = createSocket(type);
    await new Promise<void>((resolve) => sender.connect(receiver.address().port, host, resolve));
    const fd = descriptorOf(sender);
    if (one.noCheck === true) {
      const { constants } = binding();
      const set = binding().setsockoptInt(fd, constants.SOL_SOCKET, constants.SO_NO_CHECK, 1);
      if (set !== 0) throw new Error(`setsockopt(SO_NO_CHECK): ${set}`);
    }
    const bytes = patterned(one.size);
    const rounds = one.rounds ?? 1;
    const arrived = collect(receiver, one.size * rounds, 3000);
    const reports = [];
    for (let round = 0; round < rounds; round++)
      reports.push(await transfer(bytes, sender, { zeroCopy: one.zeroCopy }));
    const received = await arrived;
    const segment = one.mtu - (one.ipv6 === true ? 48 : 28);
    const expected: Datagram[] = [];
    for (let round = 0; round < rounds; round++) expected.push(...expectedDatagrams(bytes, segment));
    results.push({ ...one, reports, expected, received });
    receiver.close();
    sender.close();
  }
  print(results);
}

async function receive(port: number, bytes: number): Promise<void> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024 });
  await new Promise<void>((resolve) => socket.bind(port, '0.0.0.0', resolve));
  print({ ready: true });
  const datagrams = await collect(socket, bytes, 10_000);
  socket.close();
  print({ datagrams });
}

async function send(
  host: string,
  port: number,
  size: number,
  zeroCopy: 'auto' | 'always' | 'never',
  optionMemory: string | undefined,
): Promise<void> {
  if (optionMemory !== undefined) writeFileSync('/proc/sys/net/core/optmem_max', optionMemory);
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.connect(port, host, resolve));
  const bytes = patterned(size);
  // The socket, not its descriptor: transfer() stops Node receiving on it meanwhile, or Node
  // 24's libuv would read (and lose) the late completions from its error queue.
  const report = await transfer(bytes, socket, { zeroCopy });
  socket.close();
  const segment = report.gso?.segmentBytes ?? size;
  print({ report, expected: expectedDatagrams(bytes, segment) });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === 'loop') await loop(JSON.parse(String(args[0])) as Case[]);
else if (mode === 'receive') await receive(Number(args[0]), Number(args[1]));
else if (mode === 'send')
  await send(
    String(args[0]),
    Number(args[1]),
    Number(args[2]),
    String(args[3]) as 'auto' | 'always' | 'never',
    args[4],
  );
else throw new Error(`unknown mode ${mode}`);
