// The state one transfer carries through its loop, and the helpers every mover shares.

import { abortError } from '../engine/abort.js';
import { Pacer } from '../engine/pacer.js';
import { type Direction, readiness } from '../engine/readiness.js';
import type { Endpoint } from './endpoints.js';

export const EAGAIN = -11;
export const EINTR = -4;

export class TransferContext {
  bytes = 0;
  syscalls = 0;
  offloaded = 0;
  waits = 0;
  readonly pacer = new Pacer();
  /** TransferOptions.onProgress: told the running total after each call that moved bytes. */
  onProgress: ((bytesTransferred: number) => void) | undefined;

  constructor(
    readonly source: Endpoint,
    readonly destination: Endpoint,
    /** Next byte of a file source to read. */
    public offset: number,
    /** Bytes still to move; Infinity until a stream source ends. */
    public remaining: number,
    readonly signal: AbortSignal | undefined,
  ) {}

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

  async waitFor(endpoint: Endpoint, direction: Direction): Promise<void> {
    this.waits++;
    await readiness.wait(endpoint.fd, direction, this.signal);
    this.pacer.waited();
  }

  /** Runs `call` on the thread pool (counted), or inline. */
  async run(offload: boolean, inline: () => number, pooled: () => Promise<number>): Promise<number> {
    if (!offload) return inline();
    this.offloaded++;
    const result = await pooled();
    this.pacer.waited();
    return result;
  }
}
