// A dgram.Socket as a transfer() destination. While a dgram socket receives, Node's event loop
// watches its descriptor, and on Node 24 (libuv 1.52; Node 20's 1.46 does not) it answers
// EPOLLERR by reading the socket's error queue: the kernel's MSG_ZEROCOPY completions are taken
// and thrown away, and a transfer() waiting for them would wait forever. So the socket stops receiving while a
// transfer holds it; datagrams that arrive meanwhile wait in its receive buffer, and 'message'
// events resume when the last transfer on it settles.
import type { Socket as DatagramSocket } from 'node:dgram';

interface UdpHandle {
  fd: number;
  recvStart(): number;
  recvStop(): number;
}

/** What Node keeps for a dgram socket, under a symbol: `_handle` says the same with a DEP0112 warning. */
interface DatagramState {
  handle: UdpHandle | null;
  receiving: boolean;
}

/** Transfers holding each socket: the first stops its receiving, the last starts it again. */
const holds = new WeakMap<DatagramState, number>();

function stateOf(socket: DatagramSocket): DatagramState | undefined {
  const fields = socket as unknown as Record<symbol, unknown>;
  for (const symbol of Object.getOwnPropertySymbols(socket)) {
    const value = fields[symbol];
    if (symbol.description === 'state symbol' && typeof value === 'object' && value !== null && 'handle' in value)
      return value as DatagramState;
  }
  return undefined;
}

export interface HeldDatagramSocket {
  /** The socket's own descriptor (not a dup): valid until release(). */
  fd: number;
  release(): void;
}

/** The descriptor of a bound dgram socket, with its receiving stopped until release(); undefined when it has none. */
export function holdDatagramSocket(socket: DatagramSocket): HeldDatagramSocket | undefined {
  const state = stateOf(socket);
  const handle = state?.handle;
  if (state === undefined || handle == null || typeof handle.fd !== 'number' || handle.fd < 0) return undefined;
  const count = holds.get(state) ?? 0;
  if (count === 0 && state.receiving) handle.recvStop();
  holds.set(state, count + 1);
  let released = false;
  return {
    fd: handle.fd,
    release: () => {
      if (released) return;
      released = true;
      const left = (holds.get(state) ?? 1) - 1;
      if (left > 0) {
        holds.set(state, left);
        return;
      }
      holds.delete(state);
      // Closed meanwhile: Node cleared `receiving` and dropped the handle; nothing to resume.
      if (state.receiving && state.handle === handle) handle.recvStart();
    },
  };
}
