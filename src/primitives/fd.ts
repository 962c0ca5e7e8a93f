import { fstatSync } from 'node:fs';

import { binding } from '../binding/load.js';
import type { ConstantName } from '../binding/native.js';
import { check } from '../errors.js';
import { type Offset, validateBoolean, validateFd, validateLength, validateOneOf } from './validate.js';

export type DescriptorKind =
  | 'file'
  | 'directory'
  | 'pipe'
  | 'socket'
  | 'character-device'
  | 'block-device'
  | 'symbolic-link'
  | 'unknown';

export interface DescriptorInfo {
  kind: DescriptorKind;
  /** Size in bytes for files (0 for most others). */
  size: number;
  /** st_dev: files on different devices cannot share extents. */
  device: number;
  inode: number;
  accessMode: 'read' | 'write' | 'read-write';
  append: boolean;
  nonBlocking: boolean;
  direct: boolean;
}

/** fstat(2) + F_GETFL: what a descriptor is and how it was opened. EBADF if it is not open. */
export function describeDescriptor(fd: number): DescriptorInfo {
  const native = binding();
  const { constants } = native;
  const descriptor = validateFd(fd, 'fd');
  const stats = fstatSync(descriptor);
  const flags = check(native.fcntl(descriptor, constants.F_GETFL, 0), 'fcntl');
  const accessBits = flags & constants.O_ACCMODE;
  const kind: DescriptorKind = stats.isFile()
    ? 'file'
    : stats.isDirectory()
      ? 'directory'
      : stats.isFIFO()
        ? 'pipe'
        : stats.isSocket()
          ? 'socket'
          : stats.isCharacterDevice()
            ? 'character-device'
            : stats.isBlockDevice()
              ? 'block-device'
              : stats.isSymbolicLink()
                ? 'symbolic-link'
                : 'unknown';
  return {
    kind,
    size: stats.size,
    device: stats.dev,
    inode: stats.ino,
    accessMode: accessBits === constants.O_WRONLY ? 'write' : accessBits === constants.O_RDWR ? 'read-write' : 'read',
    append: (flags & constants.O_APPEND) !== 0,
    nonBlocking: (flags & constants.O_NONBLOCK) !== 0,
    direct: (flags & constants.O_DIRECT) !== 0,
  };
}

/**
 * Sets or clears O_NONBLOCK. It belongs to the open file description, so it also changes
 * every dup of the descriptor and the copy any other process holds.
 */
export function setNonBlocking(fd: number, on: boolean): void {
  const native = binding();
  const { constants } = native;
  const descriptor = validateFd(fd, 'fd');
  const flags = check(native.fcntl(descriptor, constants.F_GETFL, 0), 'fcntl');
  const wanted = validateBoolean(on, 'on') ? flags | constants.O_NONBLOCK : flags & ~constants.O_NONBLOCK;
  if (wanted !== flags) check(native.fcntl(descriptor, constants.F_SETFL, wanted), 'fcntl');
}

/**
 * F_DUPFD_CLOEXEC: a second descriptor for the same open file. Work queued on a
 * descriptor that its owner may close holds a dup, so the number it uses can never be
 * reused for another file in the meantime.
 */
export function dup(fd: number): number {
  const native = binding();
  return check(native.fcntl(validateFd(fd, 'fd'), native.constants.F_DUPFD_CLOEXEC, 0), 'fcntl');
}

/** close(2). Prefer fs.closeSync() for descriptors Node gave you; this is for ours. */
export function close(fd: number): void {
  check(binding().close(validateFd(fd, 'fd')), 'close');
}

export type FadviseAdvice = 'normal' | 'sequential' | 'random' | 'willneed' | 'dontneed' | 'noreuse';
const FADVICE: Record<FadviseAdvice, ConstantName> = {
  normal: 'POSIX_FADV_NORMAL',
  sequential: 'POSIX_FADV_SEQUENTIAL',
  random: 'POSIX_FADV_RANDOM',
  willneed: 'POSIX_FADV_WILLNEED',
  dontneed: 'POSIX_FADV_DONTNEED',
  noreuse: 'POSIX_FADV_NOREUSE',
};

/**
 * posix_fadvise(2): tells the kernel how a file will be read. `sequential` doubles the
 * readahead window; `willneed` starts reading into the page cache now; `dontneed` drops
 * clean cached pages. A `length` of 0 means "to the end of the file". ESPIPE on a pipe.
 */
export function fadvise(fd: number, advice: FadviseAdvice, offset: Offset = 0, length: Offset = 0): void {
  const native = binding();
  const name = FADVICE[validateOneOf(advice, 'advice', Object.keys(FADVICE) as FadviseAdvice[])];
  check(
    native.fadvise(
      validateFd(fd, 'fd'),
      validateLength(offset, 'offset'),
      validateLength(length, 'length'),
      native.constants[name],
    ),
    'posix_fadvise',
  );
}

/**
 * readahead(2): reads `count` bytes at `offset` into the page cache. It may block until
 * the reads are issued: call it off the event loop for large ranges of a cold file.
 * EINVAL for descriptors that are not files.
 */
export function readahead(fd: number, offset: Offset, count: Offset): void {
  const native = binding();
  check(
    native.readahead(validateFd(fd, 'fd'), validateLength(offset, 'offset'), validateLength(count, 'count')),
    'readahead',
  );
}
