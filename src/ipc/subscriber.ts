// A consumer: receives messages in order, one held at a time.
//
// Release rule: a message stays valid until message.release() or the next receive() of
// the same subscriber, whichever comes first; then its view is detached. Holding one
// message never holds up more than one slot; holding a batch, the batch's slots. A message
// up to 1 KiB is a slice of an arena: it holds its slot the same way, but aliases nothing,
// so it is not detached.
import { EAGAIN, EBADMSG, EPIPE, ESHUTDOWN } from '../binding/errno.js';
import { invalidArgType, outOfRange } from '../errors.js';
import { Batch } from './batch.js';
import { type Endpoint, WANT_MESSAGE } from './endpoint.js';
import { corruptMessage, nativeFailure, peerGone } from './errors.js';
import { Message } from './message.js';
import type { WaitOptions } from './producer.js';

export interface BatchOptions extends WaitOptions {
  /** At most this many messages (default: every ready one, up to the ring's slots). */
  max?: number;
}

export class Subscriber implements AsyncIterable<Message> {
  #held: Message | Batch | undefined;
  #lengths: Uint32Array | undefined;
  #ended = false;
  #missed = 0;

  constructor(readonly endpoint: Endpoint) {}

  /** True once the producer closed and every message was read. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Messages this subscriber missed in total (overwrite mode). */
  get missed(): number {
    return this.#missed;
  }

  #release = (message: Message | Batch): void => {
    if (this.#held !== message) return;
    this.#held = undefined;
    this.endpoint.native.release(message.view);
  };

  /**
   * Releases what this subscriber held, then asks the native side for more: `take` gets the
   * held view to release along the way and returns a view or an errno. `wrap` makes the held
   * Message or Batch from the view. Undefined if nothing is ready (or the stream ended).
   */
  #take<T extends Message | Batch>(
    take: (previous: ArrayBuffer | undefined) => ArrayBuffer | number,
    wrap: (view: ArrayBuffer | number) => T,
  ): T | undefined {
    const previous = this.#held;
    previous?.markReleased();
    this.#held = undefined;
    const result = take(previous?.view);
    if (typeof result !== 'number' || result >= 0) {
      const received = wrap(result);
      this.#missed += received.missed;
      this.#held = received;
      return received;
    }
    if (result === EAGAIN) return undefined;
    if (result === ESHUTDOWN) {
      this.#ended = true;
      return undefined;
    }
    if (result === EPIPE) throw peerGone('producer');
    if (result === EBADMSG) throw corruptMessage(this.endpoint.state[0] as number);
    throw nativeFailure(result, 'receive');
  }

  /** The next message if one is ready, undefined if none is (or the stream ended: see `ended`). Never waits. */
  tryReceive(): Message | undefined {
    return this.#take(
      (previous) => this.endpoint.native.receive(previous),
      (result) => {
        const [sequence, missed] = this.endpoint.state as unknown as [number, number];
        if (typeof result === 'number') {
          return new Message(this.endpoint.copyAt(result), undefined, sequence, missed, this.#release);
        }
        return new Message(Buffer.from(result, 0, result.byteLength), result, sequence, missed, this.#release);
      },
    );
  }

  /** Every ready message (at most `max`) as one Batch, undefined if none is ready (or the stream ended: see `ended`). Never waits. Releases what this subscriber held. */
  tryReceiveBatch(max?: number): Batch | undefined {
    const slots = this.endpoint.slots;
    let limit = slots;
    if (max !== undefined) {
      if (typeof max !== 'number') throw invalidArgType('max', 'of type number', max);
      if (!Number.isInteger(max) || max < 1 || max > slots) {
        throw outOfRange('max', `an integer >= 1 and <= ${slots} (the slots)`, max);
      }
      limit = max;
    }
    this.#lengths ??= new Uint32Array(slots);
    const lengths = this.#lengths;
    return this.#take(
      (previous) => this.endpoint.native.receiveBatch(limit, lengths, previous),
      (view) => {
        const [sequence, missed, count] = this.endpoint.state as unknown as [number, number, number];
        return new Batch(view as ArrayBuffer, lengths, count, sequence, missed, this.endpoint.slotSize, this.#release);
      },
    );
  }

  /** Every ready message as one Batch, waiting (without blocking the event loop) until there is one; null once the producer closed and all was read. One wake-up, one promise, however many messages. */
  receiveBatch(options: BatchOptions = {}): Promise<Batch | null> {
    return this.#receiveSoon(() => this.tryReceiveBatch(options.max), options.signal);
  }

  /** The next message, waiting for it without blocking the event loop; null once the producer closed and all was read. */
  receive(options: WaitOptions = {}): Promise<Message | null> {
    return this.#receiveSoon(() => this.tryReceive(), options.signal);
  }

  /**
   * What `take` gets now or, in spin mode, within the spin, as a settled promise; else
   * waits. Without an async function's own awaits a message that comes within the spin
   * costs one microtask, which is most of what is left of a spinning round trip.
   */
  #receiveSoon<T>(take: () => T | undefined, signal: AbortSignal | undefined): Promise<T | null> {
    let spun = false;
    try {
      let received = take();
      if (received === undefined && !this.#ended && signal?.aborted !== true && this.endpoint.spinMicroseconds > 0) {
        spun = true;
        if (this.endpoint.spin(WANT_MESSAGE)) received = take();
      }
      if (received !== undefined) return Promise.resolve(received);
      if (this.#ended) return Promise.resolve(null);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#receiveLater(take, signal, spun);
  }

  async #receiveLater<T>(take: () => T | undefined, signal: AbortSignal | undefined, spun: boolean): Promise<T | null> {
    await this.endpoint.wait(WANT_MESSAGE, signal, spun);
    for (;;) {
      const received = take();
      if (received !== undefined) return received;
      if (this.#ended) return null;
      await this.endpoint.wait(WANT_MESSAGE, signal);
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    for (;;) {
      const message = await this.receive();
      if (message === null) return;
      yield message;
    }
  }

  close(): void {
    const held = this.#held;
    held?.markReleased();
    this.#held = undefined;
    this.endpoint.close(held?.view);
  }
}
