// A received message: a view of its slot, valid until released; or a copy of a small one.
import { deserialize } from 'node:v8';

import { messageReleased } from './errors.js';

export class Message {
  #buffer: Buffer;
  #released = false;

  constructor(
    buffer: Buffer,
    /** The ArrayBuffer under `buffer` (the slot's view, or a copy of its own), detached at release; undefined for an arena slice. */
    readonly view: ArrayBuffer | undefined,
    /** Its position in the stream (0 for the first message published). */
    readonly sequence: number,
    /** Messages overwritten before this subscriber could read them (overwrite mode), since its previous message. */
    readonly missed: number,
    private readonly onRelease: (message: Message) => void,
  ) {
    this.#buffer = buffer;
  }

  /** The bytes: in the shared slot (no copy) or, up to 4 KiB, a copy. Throws after release; a Buffer taken before reads as empty then (up to 1 KiB it keeps its bytes: it aliases nothing). */
  get buffer(): Buffer {
    if (this.#released) throw messageReleased();
    return this.#buffer;
  }

  get released(): boolean {
    return this.#released;
  }

  /** The value the producer post()ed, deserialized straight from the slot. */
  value(): unknown {
    return deserialize(this.buffer);
  }

  /** Gives the slot back to the producer; a view of the slot is detached (length 0). Idempotent. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.onRelease(this);
  }

  /** @internal the subscriber released it by receiving the next one. */
  markReleased(): void {
    this.#released = true;
  }
}
