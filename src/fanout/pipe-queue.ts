// A destination's queue: the bytes it has been given and not yet written, held in pipes
// that share their pages with the source pipe (tee), never copied.
import { openSync } from 'node:fs';
import { EAGAIN } from '../binding/errno.js';
import { binding } from '../binding/load.js';
import { systemError } from '../errors.js';
import { acquirePipe, type PooledPipe, releasePipe } from '../transfer/pipe-pool.js';

export interface QueuedPipe {
  pipe: PooledPipe;
  /** Bytes in the pipe. */
  bytes: number;
}

let nullFd: number | undefined;

/** /dev/null, opened once: splicing a pipe into it drops pages without touching them. */
function devNull(): number {
  nullFd ??= openSync('/dev/null', 'w');
  return nullFd;
}

function nonBlocking(): number {
  return binding().constants.SPLICE_F_NONBLOCK;
}

/**
 * Drops the first `count` bytes of a pipe. `orFewer`: the pipe may hold fewer (emptying a
 * source pipe after a failed move took part of it): stop once it is empty.
 */
export function discard(pipe: PooledPipe, count: number, orFewer = false): void {
  let left = count;
  while (left > 0) {
    const result = binding().splice(pipe.readFd, -1, devNull(), -1, left, nonBlocking());
    if (result === EAGAIN && orFewer) return;
    if (result <= 0) throw systemError(result === 0 ? -5 : result, 'splice');
    left -= result;
  }
}

/**
 * A pipe that can take all of `source` in one call: an empty pipe of at least the source's
 * capacity (tee and splice move whole pipe slots, and the source holds at most its
 * capacity's worth of them).
 */
function freshPipe(sourceCapacity: number): PooledPipe {
  const pipe = acquirePipe();
  if (pipe.capacity < sourceCapacity) {
    releasePipe(pipe, false);
    throw systemError(-105, 'pipe2'); // ENOBUFS: the kernel would not grow the pipe
  }
  return pipe;
}

export class PipeQueue {
  readonly pipes: QueuedPipe[] = [];
  /** Bytes in all the pipes. */
  bytes = 0;
  syscalls = 0;

  /**
   * Appends the `count` bytes `source` holds. `move` takes them (splice: the last taker),
   * otherwise they are duplicated (tee) and stay in `source`. First into the tail pipe; what
   * does not fit there goes to a fresh pipe, whose head is dropped where the tail took a part
   * (tee always starts at the front of the source).
   */
  append(source: PooledPipe, count: number, move: boolean): void {
    const native = binding();
    const flags = nonBlocking();
    const tail = this.pipes.at(-1);
    let taken = 0;
    if (tail !== undefined) {
      const result = move
        ? native.splice(source.readFd, -1, tail.pipe.writeFd, -1, count, flags)
        : native.tee(source.readFd, tail.pipe.writeFd, count, flags);
      this.syscalls++;
      if (result > 0) taken = result;
      else if (result !== EAGAIN) throw systemError(result === 0 ? -5 : result, move ? 'splice' : 'tee');
      tail.bytes += taken;
    }
    if (taken < count) {
      const pipe = freshPipe(source.capacity);
      // A move already took the tail's part out of the source; a tee left it there.
      const wanted = move ? count - taken : count;
      const result = move
        ? native.splice(source.readFd, -1, pipe.writeFd, -1, wanted, flags)
        : native.tee(source.readFd, pipe.writeFd, wanted, flags);
      this.syscalls++;
      if (result !== wanted) {
        releasePipe(pipe, false);
        throw systemError(result < 0 ? result : -105, move ? 'splice' : 'tee');
      }
      if (!move && taken > 0) {
        discard(pipe, taken);
        this.syscalls++;
      }
      this.pipes.push({ pipe, bytes: count - taken });
    }
    this.bytes += count;
  }

  /** The pipe to write from next, if any bytes are queued. */
  head(): QueuedPipe | undefined {
    const head = this.pipes[0];
    return head !== undefined && head.bytes > 0 ? head : undefined;
  }

  /** Counts `count` bytes written out of the head pipe; an emptied head goes back to the pool unless it is the tail. */
  consumed(count: number): void {
    const head = this.pipes[0] as QueuedPipe;
    head.bytes -= count;
    this.bytes -= count;
    if (head.bytes === 0 && this.pipes.length > 1) {
      this.pipes.shift();
      releasePipe(head.pipe, true);
    }
  }

  /** Closes or pools every pipe (one that still holds bytes is closed, never reused). */
  release(): void {
    for (const { pipe, bytes } of this.pipes) releasePipe(pipe, bytes === 0);
    this.pipes.length = 0;
    this.bytes = 0;
  }
}

/** 1 MiB, the default pipe-max-size. */
const GROWN_PIPE_BYTES = 1024 * 1024;

/**
 * Grows a pipe the fan-out reads or writes (stdin, stdout, a FIFO) to 1 MiB when the kernel
 * allows: a 64 KiB pipe means a wake-up and a splice per 64 KiB. Best effort: a pipe that
 * stays small still works.
 */
export function growPipe(fd: number): void {
  const native = binding();
  const { constants } = native;
  if (native.fcntl(fd, constants.F_GETPIPE_SZ, 0) < GROWN_PIPE_BYTES)
    native.fcntl(fd, constants.F_SETPIPE_SZ, GROWN_PIPE_BYTES);
}
