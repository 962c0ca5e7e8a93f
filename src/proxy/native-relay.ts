// One native relay (native/relay/relay.cc) per process, shared by every pipeSockets() call: it
// moves bytes between two sockets with no JavaScript call per message (recv/send for small
// exchanges, splice for streams), and tells the pair that owns each event.
import { addonStatus, binding } from '../binding/load.js';
import type { NativeRelay, RelayCounts, RelayEventKind } from '../binding/native.js';
import { TURN_SLICE_MS } from '../engine/pacer.js';

/** What the relay tells the owner of a pair; `direction` 0 is a -> b. */
export interface RelayListener {
  /** Bytes delivered so far each way... */
  moved(aToB: number, bToA: number): void;
  /** ...and of those, the ones moved by splice (told after moved(), once a direction splices). */
  spliced(aToB: number, bToA: number): void;
  /** The direction read its FIN, every byte before it sent: pass the FIN on. */
  ended(direction: 0 | 1): void;
  /** The direction keeps reading large and the relay had no pipe for it: splice it from JavaScript (its buffer is empty). */
  switched(direction: 0 | 1): void;
  /** The pair is gone: `direction` met `errno` in send() or recv(). */
  failed(direction: 0 | 1, errno: number, syscall: 'send' | 'recv'): void;
}

/**
 * A read of at least this much means the direction is streaming rather than exchanging
 * small messages (the same 16 KiB below which the literature sees kernel paths lose).
 * Node reads up to 64 KiB at a time; on loopback with Nagle off a bulk stream arrives in
 * reads of 16-64 KiB, request/response traffic in reads of its message sizes.
 */
export const LARGE_READ_BYTES = 16 * 1024;

type EventHandler = (listener: RelayListener, a: number, b: number) => void;

/**
 * What each kind of the relay's events means to a listener. The relay numbers the kinds
 * (Relay.eventKinds); a kind it adds without a handler here fails test/native/binding.test.ts.
 */
export const RELAY_EVENT_HANDLERS: Readonly<Record<RelayEventKind, EventHandler>> = {
  moved: (listener, a, b) => listener.moved(a, b),
  spliced: (listener, a, b) => listener.spliced(a, b),
  ended: (listener, a) => listener.ended(a as 0 | 1),
  switched: (listener, a) => listener.switched(a as 0 | 1),
  failedRecv: (listener, a, b) => listener.failed(a as 0 | 1, b, 'recv'),
  failedSend: (listener, a, b) => listener.failed(a as 0 | 1, b, 'send'),
};

class RelayHub {
  readonly #relay: NativeRelay;
  readonly #listeners = new Map<number, RelayListener>();
  /** RELAY_EVENT_HANDLERS indexed by the relay's number for each kind. */
  readonly #handlers: Array<EventHandler | undefined> = [];
  readonly #eventFields: number;

  constructor() {
    const { Relay } = binding();
    for (const [kind, handler] of Object.entries(RELAY_EVENT_HANDLERS) as Array<[RelayEventKind, EventHandler]>) {
      this.#handlers[Relay.eventKinds[kind]] = handler;
    }
    this.#eventFields = Relay.eventFields;
    this.#relay = new Relay({ turnSliceMs: TURN_SLICE_MS, largeReadBytes: LARGE_READ_BYTES }, (events) =>
      this.#dispatch(events),
    );
  }

  /**
   * The pair's id, or undefined when the relay cannot take these descriptors. With
   * `reportMoves` false, `listener.moved` hears only the final counts; counts() has them
   * whenever asked.
   */
  add(
    fdA: number,
    fdB: number,
    spliceAfterLargeReads: number,
    first: [Buffer | null, Buffer | null],
    reportMoves: boolean,
    listener: RelayListener,
  ): number | undefined {
    const id = this.#relay.add(fdA, fdB, spliceAfterLargeReads, first[0], first[1], reportMoves);
    if (id < 0) return undefined;
    this.#listeners.set(id, listener);
    return id;
  }

  /** Bytes moved each way and how long ago bytes last moved; undefined once the pair is gone. */
  counts(id: number): RelayCounts | undefined {
    return this.#relay.counts(id);
  }

  /** Stops the pair (if it still runs) and forgets its listener. */
  remove(id: number): void {
    this.#listeners.delete(id);
    this.#relay.remove(id);
  }

  // Events are [pairId, kind, a, b] records.
  #dispatch(events: number[]): void {
    const fields = this.#eventFields;
    for (let i = 0; i + fields <= events.length; i += fields) {
      const listener = this.#listeners.get(events[i] as number);
      if (listener === undefined) continue;
      this.#handlers[events[i + 1] as number]?.(listener, events[i + 2] as number, events[i + 3] as number);
    }
  }
}

let hub: RelayHub | undefined;

/** The process's relay, or undefined where the addon (or its relay) is not available. */
export function relayHub(): RelayHub | undefined {
  if (hub === undefined && addonStatus().available && typeof binding().Relay === 'function') {
    hub = new RelayHub();
  }
  return hub;
}
