// Readers for fan-out tests: loopback TCP destinations whose far ends are hashed.
import { createHash } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import type { TestContext } from 'node:test';

import { type Drain, drain } from '../support/transfer.js';

export interface Reader {
  /** The socket the fan-out writes to. */
  socket: Socket;
  /** The far end: what arrived there. */
  far: Socket;
  drain: Drain;
}

/** `count` loopback TCP connections through one listener; each far end is drained and hashed. */
export async function tcpReaders(t: TestContext, count: number, options: { keep?: boolean } = {}): Promise<Reader[]> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const address = listener.address();
  if (address === null || typeof address === 'string') throw new Error('listener has no TCP address');
  const accepted: Socket[] = [];
  const allAccepted = new Promise<void>((resolve) => {
    listener.on('connection', (socket) => {
      accepted.push(socket);
      if (accepted.length === count) resolve();
    });
  });
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = connect(address.port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    sockets.push(socket);
  }
  await allAccepted;
  listener.close();
  t.after(() => {
    for (const socket of [...sockets, ...accepted]) socket.destroy();
  });
  // Accept order is connect order: one connection at a time was made above.
  return sockets.map((socket, i) => {
    const far = accepted[i] as Socket;
    return { socket, far, drain: drain(far, options) };
  });
}

export function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
