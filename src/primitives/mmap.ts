import { fstatSync } from 'node:fs';

import { binding } from '../binding/load.js';
import type { ConstantName } from '../binding/native.js';
import { check, invalidArgValue, outOfRange, systemError, unmapped } from '../errors.js';
import {
  type Offset,
  validateBoolean,
  validateBytes,
  validateFd,
  validateLength,
  validateObject,
  validateOneOf,
} from './validate.js';

export interface MmapOptions {
  /** Where the mapping starts in the file. Any offset; it need not be page-aligned. Default 0. */
  offset?: Offset;
  /** Bytes to map. Default: from `offset` to the end of the file; never past it (ERR_OUT_OF_RANGE). */
  length?: Offset;
  /**
   * 'private' (default): the Buffer reads the file's pages without copying; writing to it
   * copies the touched page for this process only and never reaches the file.
   * 'shared': writes go to the file (the descriptor must be open for reading and writing)
   * and are seen by every process that maps it.
   */
  mode?: 'private' | 'shared';
  /** MAP_POPULATE: fault every page in now instead of on first touch. Default false. */
  populate?: boolean;
}

const MODES = ['private', 'shared'] as const;

/**
 * mmap(2): a Buffer over a file's (or memfd's) pages, without reading them into memory.
 * Unmapped when the Buffer is garbage-collected, or now with unmap().
 *
 * Hazard: if the file is truncated below the mapped range (by this or another process),
 * touching the lost pages raises SIGBUS and kills the process; JavaScript cannot catch
 * it. Map only files nobody shrinks, or a memfd sealed with `addSeals(fd, ['shrink'])`.
 */
export function mmap(fd: number, options?: MmapOptions): Buffer {
  const native = binding();
  const { constants } = native;
  const descriptor = validateFd(fd, 'fd');
  const opts = validateObject(options, 'options');
  const offset = opts.offset === undefined ? 0 : validateLength(opts.offset, 'options.offset');
  const mode = opts.mode === undefined ? 'private' : validateOneOf(opts.mode, 'options.mode', MODES);
  const populate = opts.populate === undefined ? false : validateBoolean(opts.populate, 'options.populate');

  let length = opts.length === undefined ? undefined : validateLength(opts.length, 'options.length');
  const stats = fstatSync(descriptor);
  if (length === undefined) {
    const size = stats.size;
    if (offset > size) throw outOfRange('options.offset', `<= the file size (${size})`, offset);
    length = size - offset;
  } else if (stats.isFile() && offset + length > stats.size) {
    // Touching a mapped page past the end of a file raises SIGBUS, which kills the process.
    throw outOfRange('options.length', `<= ${Math.max(0, stats.size - offset)} (the end of the file)`, length);
  }
  // mmap(2) refuses a zero length; an empty view needs no mapping.
  if (length === 0) return Buffer.alloc(0);

  const pageStart = offset - (offset % constants.PAGE_SIZE);
  const lead = offset - pageStart;
  const prot = constants.PROT_READ | constants.PROT_WRITE;
  const flags =
    (mode === 'shared' ? constants.MAP_SHARED : constants.MAP_PRIVATE) | (populate ? constants.MAP_POPULATE : 0);
  const mapping = native.mmap(descriptor, lead + length, pageStart, prot, flags);
  if (typeof mapping === 'number') throw systemError(mapping, 'mmap');
  return Buffer.from(mapping, lead, length);
}

function mappingOf(buffer: unknown, name: string): ArrayBuffer {
  const view = validateBytes(buffer, name);
  const state = binding().mappingState(view.buffer);
  if (state < 0) throw invalidArgValue(name, buffer, 'must be a Buffer returned by mmap()');
  return view.buffer as ArrayBuffer;
}

/**
 * Releases the mapping behind `buffer` now. Every view of it (including slices) becomes
 * empty: reads give `undefined`, never a crash. Calling it again, or on an empty Buffer
 * that mmap() returned for a zero-length range, does nothing.
 */
export function unmap(buffer: Buffer): void {
  if (ArrayBuffer.isView(buffer) && buffer.byteLength === 0 && binding().mappingState(buffer.buffer) < 0) return;
  check(binding().unmap(mappingOf(buffer, 'buffer')), 'munmap');
}

/** Whether `buffer` views a live mapping made by mmap(). */
export function isMapped(buffer: NodeJS.ArrayBufferView): boolean {
  return ArrayBuffer.isView(buffer) && binding().mappingState(buffer.buffer) === 1;
}

/** The page-aligned part of the mapping that covers `buffer[offset, offset + length)`. */
function pageRange(buffer: NodeJS.ArrayBufferView, options: unknown) {
  const { PAGE_SIZE } = binding().constants;
  const opts = validateObject(options, 'options');
  const offset = opts.offset === undefined ? 0 : validateLength(opts.offset, 'options.offset');
  if (offset > buffer.byteLength) {
    throw outOfRange('options.offset', `<= ${buffer.byteLength} (the end of the buffer)`, offset);
  }
  const length = opts.length === undefined ? buffer.byteLength - offset : validateLength(opts.length, 'options.length');
  if (offset + length > buffer.byteLength) {
    throw outOfRange('options.length', `<= ${buffer.byteLength - offset} (the end of the buffer)`, length);
  }
  const start = buffer.byteOffset + offset;
  const alignedStart = start - (start % PAGE_SIZE);
  return { offset: alignedStart, length: start + length - alignedStart };
}

export type MadviseAdvice = 'normal' | 'random' | 'sequential' | 'willneed' | 'dontneed' | 'hugepage' | 'nohugepage';
const ADVICE: Record<MadviseAdvice, ConstantName> = {
  normal: 'MADV_NORMAL',
  random: 'MADV_RANDOM',
  sequential: 'MADV_SEQUENTIAL',
  willneed: 'MADV_WILLNEED',
  dontneed: 'MADV_DONTNEED',
  hugepage: 'MADV_HUGEPAGE',
  nohugepage: 'MADV_NOHUGEPAGE',
};

/**
 * madvise(2) on the pages under `buffer` (or a part of it). `dontneed` on a private
 * mapping drops this process's changes: the pages read from the file again.
 */
export function madvise(buffer: Buffer, advice: MadviseAdvice, options?: { offset?: Offset; length?: Offset }): void {
  const native = binding();
  const mapping = mappingOf(buffer, 'buffer');
  if (native.mappingState(mapping) !== 1) throw unmapped('buffer');
  const name = ADVICE[validateOneOf(advice, 'advice', Object.keys(ADVICE) as MadviseAdvice[])];
  const range = pageRange(buffer, options);
  check(native.madvise(mapping, range.offset, range.length, native.constants[name]), 'madvise');
}

/**
 * msync(2): writes a shared mapping's changed pages back to the file; `sync: true` (the
 * default) waits for the write, `false` only schedules it. `invalidate` also drops other
 * mappings' cached copies.
 */
export function msync(
  buffer: Buffer,
  options?: { offset?: Offset; length?: Offset; sync?: boolean; invalidate?: boolean },
): void {
  const native = binding();
  const { constants } = native;
  const mapping = mappingOf(buffer, 'buffer');
  if (native.mappingState(mapping) !== 1) throw unmapped('buffer');
  const opts = validateObject(options, 'options');
  const sync = opts.sync === undefined ? true : validateBoolean(opts.sync, 'options.sync');
  const invalidate = opts.invalidate === undefined ? false : validateBoolean(opts.invalidate, 'options.invalidate');
  const range = pageRange(buffer, opts);
  const flags = (sync ? constants.MS_SYNC : constants.MS_ASYNC) | (invalidate ? constants.MS_INVALIDATE : 0);
  check(native.msync(mapping, range.offset, range.length, flags), 'msync');
}
