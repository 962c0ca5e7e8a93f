// Pipes for splicing between two descriptors that are not pipes themselves.
import { binding } from '../binding/load.js';
import { systemError } from '../errors.js';

export interface PooledPipe {
  readFd: number;
  writeFd: number;
  capacity: number;
}

/** 1 MiB, the default pipe-max-size: fewer, larger splices (HAProxy sizes its pipes the same way). */
const WANTED_CAPACITY = 1024 * 1024;
/** Idle pipes kept for reuse; more are closed when returned. */
const MAX_IDLE = 64;

const idle: PooledPipe[] = [];

function createPipe(): PooledPipe {
  const native = binding();
  const { constants } = native;
  const fds = native.pipe(constants.O_CLOEXEC | constants.O_NONBLOCK);
  if (typeof fds === 'number') throw systemError(fds, 'pipe2');
  const [readFd, writeFd] = fds;
  // Above pipe-max-size an unprivileged process gets EPERM: keep the default 64 KiB then.
  const granted = native.fcntl(writeFd, constants.F_SETPIPE_SZ, WANTED_CAPACITY);
  const capacity = granted > 0 ? granted : native.fcntl(writeFd, constants.F_GETPIPE_SZ, 0);
  return { readFd, writeFd, capacity: capacity > 0 ? capacity : 65536 };
}

export function acquirePipe(): PooledPipe {
  return idle.pop() ?? createPipe();
}

function destroyPipe(pipe: PooledPipe): void {
  const native = binding();
  native.close(pipe.readFd);
  native.close(pipe.writeFd);
}

/**
 * Gives a pipe back. A pipe that may still hold bytes (the transfer failed between its two
 * splices) is closed instead: reused, it would hand those bytes to the next transfer.
 */
export function releasePipe(pipe: PooledPipe, empty: boolean): void {
  if (empty && idle.length < MAX_IDLE) idle.push(pipe);
  else destroyPipe(pipe);
}

/** Idle pipes right now (for tests and status pages). */
export function idlePipeCount(): number {
  return idle.length;
}
