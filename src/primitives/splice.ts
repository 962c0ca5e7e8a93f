import { binding } from '../binding/load.js';
import { check, systemError } from '../errors.js';
import {
  type Offset,
  validateBoolean,
  validateBytesList,
  validateFd,
  validateInt,
  validateLength,
  validateObject,
  validateOptionalOffset,
} from './validate.js';

export interface SpliceFlags {
  /** SPLICE_F_NONBLOCK: do not block on the pipe (the other end follows its own O_NONBLOCK). */
  nonBlocking?: boolean;
  /** SPLICE_F_MORE: more data follows (a hint for sockets, like MSG_MORE). */
  more?: boolean;
  /** SPLICE_F_MOVE: a hint to move pages; the kernel currently ignores it. */
  move?: boolean;
}

function spliceFlags(options: unknown): number {
  const { constants } = binding();
  const { nonBlocking = false, more = false, move = false } = validateObject(options, 'options');
  return (
    (validateBoolean(nonBlocking, 'options.nonBlocking') ? constants.SPLICE_F_NONBLOCK : 0) |
    (validateBoolean(more, 'options.more') ? constants.SPLICE_F_MORE : 0) |
    (validateBoolean(move, 'options.move') ? constants.SPLICE_F_MOVE : 0)
  );
}

function spliceArguments(
  fdIn: number,
  offIn: Offset | null,
  fdOut: number,
  offOut: Offset | null,
  length: Offset,
  options: SpliceFlags | undefined,
) {
  const native = binding();
  return [
    validateFd(fdIn, 'fdIn'),
    validateOptionalOffset(offIn, 'offIn'),
    validateFd(fdOut, 'fdOut'),
    validateOptionalOffset(offOut, 'offOut'),
    Math.min(validateLength(length, 'length'), native.constants.MAX_RW_COUNT),
    spliceFlags(options),
  ] as const;
}

/**
 * splice(2): moves up to `length` bytes between two descriptors, one of which must be a
 * pipe, without copying them through userspace. Offsets apply to the non-pipe side only
 * (a pipe with an offset is ESPIPE); `null` uses the descriptor's position. Returns the
 * bytes moved; 0 means the source is at its end (or an empty pipe has no writers).
 */
export function splice(
  fdIn: number,
  offIn: Offset | null,
  fdOut: number,
  offOut: Offset | null,
  length: Offset,
  options?: SpliceFlags,
): number {
  const native = binding();
  return check(native.splice(...spliceArguments(fdIn, offIn, fdOut, offOut, length, options)), 'splice');
}

/** splice(2) on libuv's thread pool, for a file side that may have to wait for the disk. */
export async function spliceAsync(
  fdIn: number,
  offIn: Offset | null,
  fdOut: number,
  offOut: Offset | null,
  length: Offset,
  options?: SpliceFlags,
): Promise<number> {
  const native = binding();
  return check(await native.spliceInPool(...spliceArguments(fdIn, offIn, fdOut, offOut, length, options)), 'splice');
}

/**
 * tee(2): duplicates up to `length` bytes from one pipe into another without consuming
 * them from the first. Both descriptors must be pipes.
 */
export function tee(fdIn: number, fdOut: number, length: Offset, options?: Pick<SpliceFlags, 'nonBlocking'>): number {
  const native = binding();
  return check(
    native.tee(
      validateFd(fdIn, 'fdIn'),
      validateFd(fdOut, 'fdOut'),
      Math.min(validateLength(length, 'length'), native.constants.MAX_RW_COUNT),
      spliceFlags(options),
    ),
    'tee',
  );
}

/**
 * vmsplice(2): hands the pages of `buffers` to the pipe `pipeFd` without copying.
 *
 * The pipe then refers to the buffers' memory, not to a snapshot of it: until the reader
 * has drained those bytes, do not change the buffers and keep a reference to them (a
 * collected Buffer's memory may be reused for something else). Returns the bytes queued,
 * which may be fewer than given when the pipe fills.
 */
export function vmsplice(
  pipeFd: number,
  buffers: NodeJS.ArrayBufferView | NodeJS.ArrayBufferView[],
  options?: Pick<SpliceFlags, 'nonBlocking'>,
): number {
  const native = binding();
  const fd = validateFd(pipeFd, 'pipeFd');
  const list = validateBytesList(buffers, 'buffers');
  if (list.length > 1024) throw systemError(-22, 'vmsplice'); // IOV_MAX
  return check(native.vmsplice(fd, list, spliceFlags(options)), 'vmsplice');
}

export interface PipeOptions {
  /** O_NONBLOCK on both ends. Default false. */
  nonBlocking?: boolean;
  /** Ask for this capacity in bytes (F_SETPIPE_SZ); the kernel rounds it up to a power of two pages. */
  size?: number;
}

/** pipe2(2) with O_CLOEXEC: returns `[readFd, writeFd]`. Close both with fs.closeSync(). */
export function pipe(options?: PipeOptions): [number, number] {
  const native = binding();
  const { nonBlocking = false, size } = validateObject(options, 'options');
  const flags =
    native.constants.O_CLOEXEC |
    (validateBoolean(nonBlocking, 'options.nonBlocking') ? native.constants.O_NONBLOCK : 0);
  const requested = size === undefined ? undefined : validateInt(size, 'options.size', 1, 2 ** 31 - 1);
  const result = native.pipe(flags);
  if (typeof result === 'number') throw systemError(result, 'pipe2');
  if (requested !== undefined) {
    const resized = native.fcntl(result[1], native.constants.F_SETPIPE_SZ, requested);
    if (resized < 0) {
      native.close(result[0]);
      native.close(result[1]);
      throw systemError(resized, 'fcntl');
    }
  }
  return result;
}

/** F_GETPIPE_SZ: the pipe's capacity in bytes. */
export function getPipeSize(fd: number): number {
  const native = binding();
  return check(native.fcntl(validateFd(fd, 'fd'), native.constants.F_GETPIPE_SZ, 0), 'fcntl');
}

/**
 * F_SETPIPE_SZ: sets the pipe's capacity and returns the capacity granted (at least
 * `size`). Above /proc/sys/fs/pipe-max-size an unprivileged process gets EPERM; below the
 * bytes already in the pipe, EBUSY.
 */
export function setPipeSize(fd: number, size: number): number {
  const native = binding();
  return check(
    native.fcntl(validateFd(fd, 'fd'), native.constants.F_SETPIPE_SZ, validateInt(size, 'size', 1, 2 ** 31 - 1)),
    'fcntl',
  );
}
