import { binding } from '../binding/load.js';
import { check } from '../errors.js';
import { type Offset, validateFd, validateLength, validateOptionalOffset } from './validate.js';

function sendfileArguments(outFd: number, inFd: number, offset: Offset | null, count: Offset) {
  const native = binding();
  return [
    validateFd(outFd, 'outFd'),
    validateFd(inFd, 'inFd'),
    validateOptionalOffset(offset, 'offset'),
    // The kernel moves at most MAX_RW_COUNT bytes a call; asking for more is not an error,
    // the result is simply short, so callers loop on the returned count.
    Math.min(validateLength(count, 'count'), native.constants.MAX_RW_COUNT),
  ] as const;
}

/**
 * sendfile(2): copies up to `count` bytes from the file `inFd` at `offset` to `outFd`
 * (a socket, pipe or, since Linux 5.12, any file) inside the kernel. Returns the bytes
 * moved, which may be fewer than asked; 0 at end of file. With `offset: null` the file's
 * own position is used and advanced; with an offset it is left alone.
 *
 * On a non-blocking socket a full send buffer throws EAGAIN. Runs on the calling thread:
 * use sendfileAsync() when the file may not be in the page cache.
 */
export function sendfile(outFd: number, inFd: number, offset: Offset | null, count: Offset): number {
  const native = binding();
  return check(native.sendfile(...sendfileArguments(outFd, inFd, offset, count)), 'sendfile');
}

/**
 * sendfile(2) on libuv's thread pool, for files that may have to be read from the disk.
 * Both descriptors must stay open until the promise settles.
 */
export async function sendfileAsync(outFd: number, inFd: number, offset: Offset | null, count: Offset) {
  const native = binding();
  return check(await native.sendfileInPool(...sendfileArguments(outFd, inFd, offset, count)), 'sendfile');
}
