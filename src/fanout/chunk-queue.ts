// A destination's queue when there are no pipes to tee (no addon): the source's chunks,
// each one Buffer read once and referenced by every destination that still has to write it.

export class ChunkQueue {
  readonly chunks: Buffer[] = [];
  /** Bytes queued and not yet written. */
  bytes = 0;
  /** Queuing a reference makes no system call. */
  readonly syscalls = 0;

  /** Queues `chunk`, shared with the other destinations: it is never written to after the source read it. */
  append(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.byteLength;
  }

  /** The bytes to write next, if any. */
  head(): Buffer | undefined {
    return this.chunks[0];
  }

  /** Counts `count` bytes of the head written; an emptied head is let go (the last holder frees it). */
  consumed(count: number): void {
    const head = this.chunks[0] as Buffer;
    this.bytes -= count;
    if (count >= head.byteLength) this.chunks.shift();
    else this.chunks[0] = head.subarray(count);
  }

  release(): void {
    this.chunks.length = 0;
    this.bytes = 0;
  }
}
