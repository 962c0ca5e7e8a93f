// What Node users install for IPC today, as ends for the ipc trial: zeromq (push/pull over
// ipc://, its prebuilt addon) and node-ipc (JSON events over a Unix socket). Both come from
// bench/package.json, so they are loaded from bench/node_modules.
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { BENCH_DIR } from '../lib/paths.js';

type Touchable = { indexOf(value: number | string): number; length: number };
export interface InstalledEnd {
  send(size: number, value: number): void | Promise<void>;
  onMessage(handler: (payload: Touchable) => void): void;
  close(): void;
}

const benchRequire = createRequire(join(BENCH_DIR, 'package.json'));

// ---- zeromq 6 (the parts used here) ----
interface ZmqSocket {
  bind(address: string): Promise<void>;
  connect(address: string): void;
  close(): void;
}
interface ZmqPush extends ZmqSocket {
  send(message: Buffer): Promise<void>;
}
interface ZmqPull extends ZmqSocket, AsyncIterable<Buffer[]> {}
interface Zmq {
  Push: new () => ZmqPush;
  Pull: new () => ZmqPull;
}

/** The parent binds both directions; the peer connects. */
export async function zeromqEnd(role: 'parent' | 'peer', directory: string): Promise<InstalledEnd> {
  const zmq = benchRequire('zeromq') as Zmq;
  const push = new zmq.Push();
  const pull = new zmq.Pull();
  const ping = `ipc://${join(directory, 'zmq-ping')}`;
  const pong = `ipc://${join(directory, 'zmq-pong')}`;
  if (role === 'parent') {
    await push.bind(ping);
    await pull.bind(pong);
  } else {
    push.connect(pong);
    pull.connect(ping);
  }
  let handler: (payload: Touchable) => void = () => {};
  let started = false;
  let closed = false;
  const pump = async () => {
    try {
      for await (const [message] of pull) if (message !== undefined) handler(message);
    } catch (error) {
      if (!closed) throw error;
    }
  };
  return {
    // One send in flight at a time (zeromq's rule): the trial awaits each returned promise.
    send: (size, value) => push.send(Buffer.allocUnsafe(size).fill(value)),
    onMessage(h) {
      handler = h;
      if (!started) {
        started = true;
        void pump();
      }
    },
    close() {
      closed = true;
      push.close();
      pull.close();
    },
  };
}

// ---- node-ipc 9 (the parts used here) ----
interface IpcSocket {
  writableLength: number;
  once(event: 'drain', listener: () => void): void;
}
interface IpcServer {
  on(event: 'connect', listener: (socket: IpcSocket) => void): void;
  on(event: 'm', listener: (data: string, socket: IpcSocket) => void): void;
  emit(socket: IpcSocket, event: 'm', data: string): void;
  start(): void;
  stop(): void;
}
interface IpcClient {
  on(event: 'connect' | 'disconnect', listener: () => void): void;
  on(event: 'm', listener: (data: string) => void): void;
  emit(event: 'm', data: string): void;
}
interface NodeIpc {
  config: { id: string; silent: boolean; maxRetries: number | false; retry: number };
  serve(path: string, callback: () => void): void;
  server: IpcServer;
  connectTo(id: string, path: string, callback: () => void): void;
  disconnect(id: string): void;
  of: Record<string, IpcClient>;
}

/** Payloads travel as strings (node-ipc's JSON messages), as users send them. */
function payloadString(size: number, value: number): string {
  return Buffer.allocUnsafe(size).fill(value).toString('latin1');
}

/** The parent serves; the peer connects. Resolves once the two are connected. */
export async function nodeIpcEnd(role: 'parent' | 'peer', directory: string): Promise<InstalledEnd> {
  const ipc = benchRequire('node-ipc') as NodeIpc;
  ipc.config.silent = true;
  ipc.config.id = role;
  ipc.config.retry = 20;
  ipc.config.maxRetries = 100;
  const path = join(directory, 'node-ipc.sock');
  let handler: (payload: Touchable) => void = () => {};
  const deliver = (data: string) => handler(data);
  if (role === 'parent') {
    const socket = await new Promise<IpcSocket>((resolve) => {
      ipc.serve(path, () => {
        ipc.server.on('connect', resolve);
        ipc.server.on('m', deliver);
      });
      ipc.server.start();
    });
    return {
      send(size, value) {
        ipc.server.emit(socket, 'm', payloadString(size, value));
        // node-ipc queues without limit: wait for the socket to drain past a few MiB.
        if (socket.writableLength > 4 << 20) return new Promise<void>((resolve) => socket.once('drain', resolve));
      },
      onMessage: (h) => (handler = h),
      close: () => ipc.server.stop(),
    };
  }
  await new Promise<void>((resolve) => {
    ipc.connectTo('parent', path, () => {
      const client = ipc.of.parent as IpcClient;
      client.on('connect', resolve);
      client.on('disconnect', () => process.exit(0));
      client.on('m', deliver);
    });
  });
  const client = ipc.of.parent as IpcClient;
  return {
    send: (size, value) => client.emit('m', payloadString(size, value)),
    onMessage: (h) => (handler = h),
    close: () => ipc.disconnect('parent'),
  };
}
