// The producer: loans a slot to write in place, publishes it; or copies a buffer in.
import { serialize } from 'node:v8';
import { EAGAIN, EBUSY, EMSGSIZE, EPIPE } from '../binding/errno.js';
import { invalidArgType, outOfRange } from '../errors.js';
import { type Endpoint, WANT_SPACE } from './endpoint.js';
import { loanState, nativeFailure, peerGone } from './errors.js';

export interface WaitOptions {
  signal?: AbortSignal;
}

/**
 * A free slot lent to the producer: write into `buffer`, then publish() (or cancel()). Up to
 * 4 KiB the buffer is scratch memory that publish() copies into the slot; beyond, a view of
 * the slot itself. Detached at publish(), except scratch of up to 1 KiB (an arena slice:
 * writing to it afterwards changes nothing that was sent).
 */
export class Loan {
  readonly buffer: Buffer;
  readonly #view: ArrayBuffer | undefined;
  readonly #length: number;
  #done = false;

  constructor(
    private readonly endpoint: Endpoint,
    buffer: Buffer,
    view: ArrayBuffer | undefined,
  ) {
    this.buffer = buffer;
    this.#view = view;
    this.#length = buffer.length;
  }

  /** Hands the message to the consumers; `length` (default: the loaned length) may be shorter. A view of the slot is detached afterwards. */
  publish(length: number = this.#length): void {
    if (this.#done) throw loanState('was already published or cancelled');
    if (!Number.isInteger(length) || length < 0 || length > this.#length) {
      throw outOfRange('length', `an integer >= 0 and <= ${this.#length}`, length);
    }
    this.#done = true;
    const result = this.endpoint.native.publish(this.#view, length);
    if (result < 0) throw nativeFailure(result, 'publish');
  }

  /** Gives the slot back unpublished. */
  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.endpoint.native.cancelLoan(this.#view);
  }
}

export class Producer {
  #loan: Loan | undefined;
  readonly slotSize: number;

  constructor(readonly endpoint: Endpoint) {
    this.slotSize = endpoint.state[0] as number;
  }

  #checkLength(length: unknown, name: string): number {
    if (typeof length !== 'number') throw invalidArgType(name, 'of type number', length);
    if (!Number.isInteger(length) || length < 0 || length > this.slotSize) {
      throw outOfRange(name, `an integer >= 0 and <= ${this.slotSize} (the slot size)`, length);
    }
    return length;
  }

  /** A loan of `length` bytes if a slot is free now, else null. Never waits. */
  tryLoan(length: number): Loan | null {
    this.#checkLength(length, 'length');
    const result = this.endpoint.native.loan(length);
    if (typeof result !== 'number') {
      this.#loan = new Loan(this.endpoint, Buffer.from(result, 0, result.byteLength), result);
      return this.#loan;
    }
    if (result >= 0) {
      this.#loan = new Loan(this.endpoint, this.endpoint.copyAt(result, length), undefined);
      return this.#loan;
    }
    if (result === EAGAIN) return null;
    if (result === EPIPE) throw peerGone('consumer');
    if (result === EBUSY) throw loanState('of the previous message is still open: publish or cancel it first');
    throw nativeFailure(result, 'loan');
  }

  /** Waits (without blocking the event loop) for a free slot; rejects with ERR_ZEROCOPY_PEER_GONE if the consumer is gone. */
  async loan(length: number, options: WaitOptions = {}): Promise<Loan> {
    for (;;) {
      const loan = this.tryLoan(length);
      if (loan !== null) return loan;
      await this.endpoint.wait(WANT_SPACE, options.signal);
    }
  }

  /** Copies `bytes` into a free slot if one is free now; false if not. */
  trySend(bytes: NodeJS.ArrayBufferView): boolean {
    if (!ArrayBuffer.isView(bytes))
      throw invalidArgType('bytes', 'an instance of Buffer, TypedArray or DataView', bytes);
    this.#checkLength(bytes.byteLength, 'bytes.byteLength');
    const result = this.endpoint.native.send(bytes);
    if (result === 0) return true;
    if (result === EAGAIN) return false;
    if (result === EPIPE) throw peerGone('consumer');
    if (result === EMSGSIZE) throw outOfRange('bytes.byteLength', `<= ${this.slotSize}`, bytes.byteLength);
    throw nativeFailure(result, 'send');
  }

  /** One copy into the next free slot, waiting for one if needed. */
  async send(bytes: NodeJS.ArrayBufferView, options: WaitOptions = {}): Promise<void> {
    while (!this.trySend(bytes)) await this.endpoint.wait(WANT_SPACE, options.signal);
  }

  /** Sends v8.serialize(value): the consumer reads it with message.value(). */
  post(value: unknown, options: WaitOptions = {}): Promise<void> {
    return this.send(serialize(value), options);
  }

  close(): void {
    this.#loan?.cancel();
    this.endpoint.close();
  }
}
