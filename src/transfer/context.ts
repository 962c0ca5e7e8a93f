// The state one transfer carries through its loop, and the helpers every mover shares.

import { abortError } from '../engine/abort.js';
import { Pacer } from '../engine/pacer.js';
import { type Direction, readiness } from '../engine/readiness.js';
import type { Endpoint } from './endpoints.js';
import type { ZeroCopySendReport } from './types.js';
import type { Segmentation } from './zero-copy/gso.js';
import type { SendLedger } from './zero-copy/ledger.js';

export interface ZeroCopySend {
  ledger: SendLedger;
  /** Lend pages for every send, whatever the size and whatever the kernel says. */
  force: boolean;
  minBytes: number;
  /** Most bytes per send on a TCP socket (a UDP socket's sends follow TransferContext.segmentation). */
  maxSend: number;
  /** TCP (a failure resets it to make the kernel let go of lent pages) rather than UDP. */
  stream: boolean;
  stats: ZeroCopySendReport;
}

export class TransferContext {
  bytes = 0;
  syscalls = 0;
  offloaded = 0;
  waits = 0;
  readonly pacer = new Pacer();
  /** A datagram socket: the most bytes one send may carry (one datagram, no IP fragments). */
  datagramBytes: number | undefined;
  /** A UDP socket: how the Buffer is cut into sends of one or many datagrams (UDP_SEGMENT). */
  segmentation: Segmentation | undefined;
  /** Buffer into a socket by MSG_ZEROCOPY: how it goes, and what happened (filled by the mover). */
  zeroCopy: ZeroCopySend | undefined;
  /** TransferOptions.onProgress: told the running total after each call that moved bytes. */
  onProgress: ((bytesTransferred: number) => void) | undefined;
  /** The descriptor a wait is pending on, for the abort listener to cancel. */
  #waitingOn: number | undefined;
  readonly #onAbort: (() => void) | undefined;

  constructor(
    readonly source: Endpoint,
    readonly destination: Endpoint,
    /** Next byte of a file source to read. */
    public offset: number,
    /** Bytes still to move; Infinity until a stream source ends. */
    public remaining: number,
    readonly signal: AbortSignal | undefined,
  ) {
    // One listener for the whole transfer, not one per wait: a transfer may wait thousands of times.
    if (signal !== undefined) {
      this.#onAbort = () => {
        if (this.#waitingOn !== undefined) readiness.cancel(this.#waitingOn, abortError(signal));
      };
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Removes the abort listener; call when the transfer is over. */
  dispose(): void {
    if (this.#onAbort !== undefined) this.signal?.removeEventListener('abort', this.#onAbort);
  }

  get expected(): number {
    return this.bytes + this.remaining;
  }

  throwIfAborted(): void {
    if (this.signal?.aborted) throw abortError(this.signal);
  }

  /** Counts a call that moved `count` bytes (a negative count is an errno and moves nothing). */
  moved(count: number): void {
    this.syscalls++;
    if (count > 0) {
      this.bytes += count;
      this.remaining -= count;
      this.onProgress?.(this.bytes);
    }
  }

  /** Resolves with the epoll events that ended the wait. */
  async waitFor(endpoint: Endpoint, direction: Direction): Promise<number> {
    this.throwIfAborted();
    this.waits++;
    this.#waitingOn = endpoint.fd;
    try {
      return await readiness.wait(endpoint.fd, direction);
    } finally {
      this.#waitingOn = undefined;
    }
  }

  /** Bookkeeping after a call that ran on the thread pool. */
  ranInPool(): void {
    this.offloaded++;
  }
}
