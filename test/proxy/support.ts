// Servers and clients for the proxy suites: each stopped by the test that started it.
import { randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import type { TestContext } from 'node:test';

import { createProxy, type ProxyOptions, type ProxyServer } from '../../src/proxy/server.js';
import { sha256 } from '../support/fixtures.js';

export async function listen(t: TestContext, server: Server, path?: string): Promise<number> {
  await new Promise<void>((resolve) =>
    path === undefined ? server.listen(0, '127.0.0.1', resolve) : server.listen(path, resolve),
  );
  t.after(() => {
    server.close();
    // Connections a test left open must not keep the process alive.
    (server as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
  });
  return path === undefined ? (server.address() as AddressInfo).port : 0;
}

/** Echoes every byte back; ends its side when the client ends (half-close aware). */
export async function echoServer(t: TestContext, path?: string): Promise<{ port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  const port = await listen(t, server, path);
  t.after(() => {
    for (const socket of sockets) socket.destroy();
  });
  return { port, sockets };
}

/** A server whose connections the test handles itself. */
export async function rawServer(
  t: TestContext,
  onConnection: (socket: Socket) => void,
): Promise<{ port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  const port = await listen(t, server);
  t.after(() => {
    for (const socket of sockets) socket.destroy();
  });
  return { port, sockets };
}

export async function startProxy(t: TestContext, options: ProxyOptions): Promise<{ proxy: ProxyServer; port: number }> {
  const proxy = createProxy(options);
  const address = await proxy.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => proxy.close(0));
  return { proxy, port: (address as AddressInfo).port };
}

export function dial(t: TestContext, port: number | string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      typeof port === 'number'
        ? connect({ port, host: '127.0.0.1', allowHalfOpen: true })
        : connect({ path: port, allowHalfOpen: true });
    t.after(() => socket.destroy());
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes `bytes` in pieces (respecting backpressure) and optionally ends the socket. */
export async function send(socket: Socket, bytes: Buffer, end = true): Promise<void> {
  const piece = 256 * 1024;
  for (let at = 0; at < bytes.byteLength; at += piece) {
    if (!socket.write(bytes.subarray(at, at + piece))) {
      await new Promise<void>((resolve, reject) => {
        const closed = () => reject(new Error('socket closed while sending'));
        socket.once('drain', () => {
          socket.off('close', closed);
          resolve();
        });
        socket.once('close', closed);
      });
    }
  }
  if (end) socket.end();
}

/** Everything the socket delivers until its end (or close), with an overall deadline. */
export function receiveAll(socket: Socket, timeoutMs = 20_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error(`no end after ${timeoutMs} ms`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    socket.once('end', done);
    socket.once('close', done);
    // receiveExactly() leaves the socket paused; a 'data' listener alone does not resume it.
    socket.resume();
  });
}

/** Resolves with exactly `length` bytes from the socket. */
export function receiveExactly(socket: Socket, length: number, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`got ${total} of ${length} bytes in ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.byteLength;
      if (total >= length) {
        cleanup();
        const all = Buffer.concat(chunks);
        if (all.byteLength > length) socket.unshift(all.subarray(length));
        resolve(all.subarray(0, length));
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`the socket ended after ${total} of ${length} bytes`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.resume();
  });
}

export function payload(size: number): { bytes: Buffer; hash: string } {
  const bytes = randomBytes(size);
  return { bytes, hash: sha256(bytes) };
}

export function waitFor<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
    }),
  ]);
}
