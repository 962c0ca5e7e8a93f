// Messages received together: one wake-up, one native call, one view over their slots.
//
// Release rule: every message of a batch stays valid until batch.release() or the next
// receive of the same subscriber (receive(), tryReceive(), receiveBatch()), whichever
// comes first; then the one view under all of them is detached and every Buffer taken
// from the batch reads as empty. The slots go back to the producer together.
import { deserialize } from 'node:v8';

import { outOfRange } from '../errors.js';
import { messageReleased } from './errors.js';

export class Batch implements Iterable<Buffer> {
  #released = false;
  readonly #lengths: Uint32Array;

  /** @internal made by Subscriber.tryReceiveBatch(). `lengths` is read only while the batch is held. */
  constructor(
    readonly view: ArrayBuffer,
    lengths: Uint32Array,
    /** How many messages. */
    readonly length: number,
    /** The position in the stream of the first; the others follow it without a gap. */
    readonly sequence: number,
    /** Messages overwritten before this subscriber could read the first (overwrite mode). */
    readonly missed: number,
    readonly slotSize: number,
    private readonly onRelease: (batch: Batch) => void,
  ) {
    this.#lengths = lengths;
  }

  get released(): boolean {
    return this.#released;
  }

  /** Message `index`'s bytes, in its slot (no copy). Empty once the batch is released. */
  buffer(index: number): Buffer {
    if (this.#released) throw messageReleased();
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw outOfRange('index', `an integer >= 0 and < ${this.length}`, index);
    }
    return Buffer.from(this.view, index * this.slotSize, this.#lengths[index] as number);
  }

  /** The value message `index`'s producer post()ed, deserialized straight from the slot. */
  value(index: number): unknown {
    return deserialize(this.buffer(index));
  }

  /** The messages' bytes in order (a view each, valid until the batch is released). */
  *[Symbol.iterator](): Iterator<Buffer> {
    for (let index = 0; index < this.length; index++) yield this.buffer(index);
  }

  /** Gives every slot of the batch back; their views are detached. Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.onRelease(this);
  }

  /** @internal the subscriber released it by receiving again. */
  markReleased(): void {
    this.#released = true;
  }
}
