// The fan-out's destination queues in native code (native/fanout/fanout.cc): each chunk is
// handed down once, tee'd into every destination's pipes and spliced out to each from the
// event loop, with no JavaScript per chunk per destination. JavaScript hears when one ends.
import { binding } from '../binding/load.js';
import type { FanoutCoreEventKind, NativeFanoutCore } from '../binding/native.js';
import { systemError } from '../errors.js';

/** What a destination's native queue tells it: it ended, with its counts, and why if it failed. */
export interface QueueListener {
  ended(bytes: number, syscalls: number, error: Error | undefined): void;
}

type Handler = (hub: NativeQueues, id: number, bytes: number, syscalls: number, errno: number) => void;

/** A handler for each event kind the core defines (FanoutCore.eventKinds). */
const HANDLERS: Readonly<Record<FanoutCoreEventKind, Handler>> = {
  ended: (hub, id, bytes, syscalls) => hub.ended(id, bytes, syscalls, undefined),
  failed: (hub, id, bytes, syscalls, errno) => hub.ended(id, bytes, syscalls, systemError(-errno, 'splice')),
  progress: (hub) => hub.onProgress(),
};

export class NativeQueues {
  readonly #core: NativeFanoutCore;
  readonly #listeners = new Map<number, QueueListener>();

  constructor(
    /** The source pipe's capacity: every queue pipe must take a whole chunk. */
    pipeBytes: number,
    /** Some destination wrote (after wantProgress()). */
    readonly onProgress: () => void,
  ) {
    const { FanoutCore } = binding();
    const byNumber = new Map<number, Handler>();
    for (const [kind, number] of Object.entries(FanoutCore.eventKinds))
      byNumber.set(number, HANDLERS[kind as FanoutCoreEventKind]);
    const fields = FanoutCore.eventFields;
    this.#core = new FanoutCore({ pipeBytes }, (events) => {
      for (let i = 0; i + fields <= events.length; i += fields) {
        const handler = byNumber.get(events[i + 1] as number);
        handler?.(this, events[i] as number, events[i + 2] as number, events[i + 3] as number, events[i + 4] as number);
      }
    });
  }

  /** A queue for destination `fd` (the core writes to its own dup): its id, or -errno. */
  add(fd: number, pollable: boolean, listener: QueueListener): number {
    const id = this.#core.add(fd, pollable);
    if (id > 0) this.#listeners.set(id, listener);
    return id;
  }

  /** Hands the chunk in the source pipe to every queue; the source pipe is empty on return. */
  distribute(sourceReadFd: number, count: number): void {
    const result = this.#core.distribute(sourceReadFd, count, true);
    if (result < 0) throw systemError(result, 'splice');
  }

  get size(): number {
    return this.#listeners.size;
  }

  queued(id: number): number {
    return Math.max(0, this.#core.queued(id));
  }

  written(id: number): number | undefined {
    return this.#core.counts(id)?.[0];
  }

  finish(id: number): void {
    this.#core.finish(id);
  }

  /** Stops the queue now: its final [bytes, syscalls], or undefined when its end is already on the way. */
  remove(id: number): [number, number] | undefined {
    const counts = this.#core.remove(id);
    if (counts !== undefined) this.#listeners.delete(id);
    return counts;
  }

  wantProgress(): void {
    this.#core.wantProgress();
  }

  ended(id: number, bytes: number, syscalls: number, error: Error | undefined): void {
    const listener = this.#listeners.get(id);
    this.#listeners.delete(id);
    listener?.ended(bytes, syscalls, error);
  }

  close(): void {
    this.#core.close();
  }
}
