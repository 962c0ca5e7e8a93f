// Endpoints for transfer() tests: real files, pipes and sockets, and readers that count and hash.
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as DatagramSocket } from 'node:dgram';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { connect, createServer, type Server, Socket } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

import { addonStatus, binding } from '../../src/binding/load.js';
import { pipe } from '../../src/primitives/index.js';
import { transfer } from '../../src/transfer/index.js';
import { closeQuietly, sha256, tcpPair, tempDir } from './fixtures.js';

export const KB = 1024;
export const MB = 1024 * KB;
export const GB = 1024 * MB;

/** Random bytes, made once per size and shared by the tests of one file. */
const payloads = new Map<number, { bytes: Buffer; hash: string }>();
export function payload(size: number): { bytes: Buffer; hash: string } {
  let entry = payloads.get(size);
  if (entry === undefined) {
    const bytes = randomBytes(size);
    entry = { bytes, hash: sha256(bytes) };
    payloads.set(size, entry);
  }
  return entry;
}

/** A file holding `bytes` in a fresh temp dir (removed after the test). */
export function fileWith(t: TestContext, bytes: Uint8Array, name = 'source.bin', dir?: string): string {
  const path = join(dir ?? tempDir(t), name);
  writeFileSync(path, bytes);
  return path;
}

/** Counts and hashes every byte a socket (or pipe) delivers; `done` settles when it ends or closes. */
export interface Drain {
  bytes: () => number;
  hash: () => string;
  done: Promise<{ bytes: number; hash: string }>;
}

export function drain(socket: Socket, options: { keep?: boolean } = {}): Drain {
  const hasher = createHash('sha256');
  let count = 0;
  let digest: string | undefined;
  const finish = () => {
    digest ??= hasher.digest('hex');
    return { bytes: count, hash: digest };
  };
  const done = new Promise<{ bytes: number; hash: string }>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      count += chunk.byteLength;
      hasher.update(chunk);
    });
    socket.once('end', () => resolve(finish()));
    socket.once('close', () => resolve(finish()));
    // A reset after the last byte is still an end for a counter.
    socket.once('error', () => {});
  });
  if (options.keep !== true) socket.resume();
  return { bytes: () => count, hash: () => digest ?? '', done };
}

/** A connected AF_UNIX stream pair through a listening socket in a temp dir. */
export async function unixPair(t: TestContext): Promise<{ client: Socket; server: Socket }> {
  const path = join(tempDir(t, 'zc-unix-'), 's.sock');
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(path, resolve));
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = connect(path);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  const server = await accepted;
  listener.close();
  t.after(() => {
    client.destroy();
    server.destroy();
  });
  return { client, server };
}

export type SocketFlavour = 'tcp' | 'unix';
export function socketPairOf(t: TestContext, flavour: SocketFlavour): Promise<{ client: Socket; server: Socket }> {
  return flavour === 'tcp' ? tcpPair(t) : unixPair(t);
}

/** A pipe whose ends are closed after the test unless the test closed them. */
export function testPipe(t: TestContext, nonBlocking = false): { readFd: number; writeFd: number } {
  const [readFd, writeFd] = pipe({ nonBlocking });
  t.after(() => {
    closeQuietly(readFd);
    closeQuietly(writeFd);
  });
  return { readFd, writeFd };
}

/**
 * Node stream over one end of a pipe (libuv takes the descriptor and closes it on destroy).
 * libuv makes that end non-blocking; the other end keeps its own flags.
 */
export function pipeSocket(fd: number, mode: 'read' | 'write'): Socket {
  return new Socket({ fd, readable: mode === 'read', writable: mode === 'write' });
}

/** Writes `bytes` into `socket` and ends it. */
export function feed(socket: Socket, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.end(bytes, () => resolve());
  });
}

/** Waits until `predicate` holds, polling every few ms; fails after `timeoutMs`. */
export async function eventually(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Rejects if `promise` has not settled within `ms`: a hang becomes a failure, not a stuck suite. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A listening server that is closed after the test. */
export async function listen(t: TestContext, server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** Opens a path for a test, closed afterwards. */
export function openPath(t: TestContext, path: string, flags: string | number): number {
  const fd = openSync(path, flags);
  t.after(() => closeQuietly(fd));
  return fd;
}

export function closeNow(fd: number): void {
  closeSync(fd);
}

/** transfer() without the addon copies everything; these suites test the kernel paths, so they need it. */
export function requireAddon(): void {
  const status = addonStatus();
  if (!status.available) throw new Error(`the native addon did not load: ${JSON.stringify(status)}`);
}

function setBuffer(socket: Socket, name: 'SO_RCVBUF' | 'SO_SNDBUF', bytes: number): void {
  const native = binding();
  const fd = (socket as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no descriptor');
  const result = native.setsockoptInt(fd, native.constants.SOL_SOCKET, native.constants[name], bytes);
  if (result < 0) throw new Error(`setsockopt(${name}) failed: ${result}`);
}

/** Shrinks a socket's kernel receive buffer (SO_RCVBUF; the kernel doubles the value). */
export function tinyReceiveBuffer(socket: Socket, bytes = 16 * KB): void {
  setBuffer(socket, 'SO_RCVBUF', bytes);
}

/** Shrinks a socket's kernel send buffer (SO_SNDBUF; the kernel doubles the value). */
export function tinySendBuffer(socket: Socket, bytes = 64 * KB): void {
  setBuffer(socket, 'SO_SNDBUF', bytes);
}

/** A reader that takes about `perTick` bytes, then pauses for `everyMs`: a slow consumer. */
export function slowDrain(socket: Socket, perTick: number, everyMs: number): Drain {
  const hasher = createHash('sha256');
  let count = 0;
  let sinceRest = 0;
  let digest: string | undefined;
  const finish = () => {
    digest ??= hasher.digest('hex');
    return { bytes: count, hash: digest };
  };
  const done = new Promise<{ bytes: number; hash: string }>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      count += chunk.byteLength;
      sinceRest += chunk.byteLength;
      hasher.update(chunk);
      if (sinceRest >= perTick) {
        sinceRest = 0;
        socket.pause();
        setTimeout(() => socket.resume(), everyMs);
      }
    });
    socket.once('end', () => resolve(finish()));
    socket.once('close', () => resolve(finish()));
    socket.once('error', () => {});
  });
  return { bytes: () => count, hash: () => digest ?? '', done };
}

/**
 * Makes one transfer wait for readiness, so that the process-wide epoll descriptor behind
 * every later wait exists before a test counts descriptors (it lives as long as the process).
 */
export async function warmReadiness(): Promise<void> {
  const [readFd, writeFd] = pipe({ nonBlocking: true });
  try {
    const waiting = transfer(readFd, '/dev/null', { length: 1 });
    setTimeout(() => writeSync(writeFd, 'z'), 5);
    await waiting;
  } finally {
    closeSync(readFd);
    closeSync(writeFd);
  }
}

/** A UDP socket bound on 127.0.0.1, closed after the test (unless the test closed it). */
export async function boundDatagramSocket(t: TestContext): Promise<DatagramSocket> {
  const socket = createSocket({ type: 'udp4', recvBufferSize: 8 * MB });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.after(() => {
    try {
      socket.close();
    } catch {
      // closed by the test
    }
  });
  return socket;
}

/** Two bound UDP sockets on loopback, the sender connected to the receiver, and what the receiver gets. */
export async function datagramPair(
  t: TestContext,
): Promise<{ receiver: DatagramSocket; sender: DatagramSocket; received: Buffer[] }> {
  const receiver = await boundDatagramSocket(t);
  const sender = await boundDatagramSocket(t);
  await new Promise<void>((resolve) => sender.connect(receiver.address().port, '127.0.0.1', resolve));
  const received: Buffer[] = [];
  receiver.on('message', (message) => received.push(message));
  return { receiver, sender, received };
}
