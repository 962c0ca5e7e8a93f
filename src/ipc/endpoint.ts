// One participant's native side and its waits: non-blocking on the event loop (an eventfd
// the loop polls, or a native thread on the futex), cancellable, optionally spinning first.
import { EBADF, EBUSY, EPROTO } from '../binding/errno.js';
import { binding } from '../binding/load.js';
import type { NativeChannel } from '../binding/native.js';
import { abortError } from '../engine/abort.js';
import { invalidArgValue } from '../errors.js';
import { channelBusy, channelClosed, nativeFailure } from './errors.js';

export const WANT_MESSAGE = 0;
export const WANT_SPACE = 1;
export type Want = typeof WANT_MESSAGE | typeof WANT_SPACE;

/**
 * Messages and loans up to this many bytes are handed out as copies rather than as views
 * of the slot. A view is an external ArrayBuffer, which Node-API makes as a tracked Buffer
 * whose detach schedules a thread-safe cleanup (an eventfd write and one more event-loop
 * turn): microseconds, where copying 4 KiB costs a fraction of one. Measured with
 * scripts/ipc-roundtrip.mjs (event mode, 64 B to 4 KiB).
 */
const COPY_MAX = 4096;
/**
 * Copies up to this many bytes are slices of an arena the native side fills (no
 * ArrayBuffer per message: 0.5 µs each in Node 20); larger ones get an ArrayBuffer each,
 * because arenas filled with them cost fresh memory every few messages (channel.cc).
 */
const ARENA_MAX = 1024;

export class Endpoint {
  readonly native: NativeChannel;
  /**
   * [sequence, missed] of the last receive (after open: [slotSize, slots, mode, overflow]),
   * [4] the length of the last copy, [5] the arena's generation. Off the V8 heap, so the
   * native side may keep its address.
   */
  readonly state = new Float64Array(new ArrayBuffer(6 * Float64Array.BYTES_PER_ELEMENT));
  #arena: ArrayBuffer | undefined;
  #arenaGeneration = 0;
  readonly index: number;
  readonly slotSize: number;
  readonly slots: number;
  #pending = new Set<{ resolve: () => void; reject: (error: Error) => void }>();
  #closed = false;

  constructor(
    fd: number,
    role: 0 | 1 | 2,
    readonly spinMicroseconds: number,
  ) {
    this.native = new (binding().Channel)(() => this.#onReady());
    const result = this.native.open(fd, role, this.state, COPY_MAX, ARENA_MAX);
    if (result === EBUSY) throw channelBusy(role === 0 ? 'producer' : 'subscriber');
    if (result === EPROTO || result === EBADF) {
      throw invalidArgValue('fd', fd, 'is not a zerocopy channel (a sealed memfd made by createChannel)');
    }
    if (result < 0) throw nativeFailure(result, 'mmap');
    this.index = result;
    this.slotSize = this.state[0] as number;
    this.slots = this.state[1] as number;
  }

  /** The copy the native side made at arena `offset` (state[4] long, or `length`). */
  copyAt(offset: number, length: number = this.state[4] as number): Buffer {
    const generation = this.state[5] as number;
    if (generation !== this.#arenaGeneration || this.#arena === undefined) {
      this.#arena = this.native.arena();
      this.#arenaGeneration = generation;
    }
    return Buffer.from(this.#arena as ArrayBuffer, offset, length);
  }

  get closed(): boolean {
    return this.#closed;
  }

  #onReady(): void {
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const waiter of pending) waiter.resolve();
  }

  /** Spin mode: busy-waits up to the budget for `want`; true if it may hold now. */
  spin(want: Want): boolean {
    return this.spinMicroseconds > 0 && !this.#closed && this.native.spin(want, this.spinMicroseconds) === 1;
  }

  /** Resolves when `want` may hold (the caller re-tries; a peer gone also wakes it). Spins first in spin mode unless `spun` (the caller just did). */
  wait(want: Want, signal: AbortSignal | undefined, spun = false): Promise<void> {
    if (this.#closed) return Promise.reject(channelClosed());
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (!spun && this.spin(want)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      // The native waiter stays armed; its wake-up then finds nobody (or a later wait).
      const onAbort = () => {
        this.#pending.delete(waiter);
        reject(abortError(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.add(waiter);
      this.native.wait(want);
    });
  }

  /** Closes; pass the views still live so that they are detached before the memory goes. */
  close(heldView?: ArrayBuffer, loanView?: ArrayBuffer): void {
    if (this.#closed) return;
    this.#closed = true;
    this.native.close(heldView, loanView);
    const pending = [...this.#pending];
    this.#pending.clear();
    for (const waiter of pending) waiter.reject(channelClosed());
  }
}
