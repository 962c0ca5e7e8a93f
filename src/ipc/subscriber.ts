// A consumer: receives messages in order, one held at a time.
//
// Release rule: a message stays valid until message.release() or the next receive() of
// the same subscriber, whichever comes first; then its view is detached. Holding one
// message never holds up more than one slot.
import { EAGAIN, EBADMSG, type Endpoint, EPIPE, ESHUTDOWN, WANT_MESSAGE } from './endpoint.js';
import { corruptMessage, nativeFailure, peerGone } from './errors.js';
import { Message } from './message.js';
import type { WaitOptions } from './producer.js';

export class Subscriber implements AsyncIterable<Message> {
  #held: Message | undefined;
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

  #release = (message: Message): void => {
    if (this.#held !== message) return;
    this.#held = undefined;
    this.endpoint.native.release(message.view);
  };

  /** The next message if one is ready, undefined if none is (or the stream ended: see `ended`). Never waits. */
  tryReceive(): Message | undefined {
    const previous = this.#held;
    previous?.markReleased();
    this.#held = undefined;
    const result = this.endpoint.native.receive(previous?.view);
    if (typeof result !== 'number') {
      const [sequence, missed] = this.endpoint.state as unknown as [number, number];
      this.#missed += missed;
      const message = new Message(result, sequence, missed, this.#release);
      this.#held = message;
      return message;
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

  /** The next message, waiting for it without blocking the event loop; null once the producer closed and all was read. */
  async receive(options: WaitOptions = {}): Promise<Message | null> {
    for (;;) {
      const message = this.tryReceive();
      if (message !== undefined) return message;
      if (this.#ended) return null;
      await this.endpoint.wait(WANT_MESSAGE, options.signal);
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
