import { ENXIO } from '../binding/errno.js';
import { binding } from '../binding/load.js';
import type { ConstantName } from '../binding/native.js';
import { check } from '../errors.js';
import { type Offset, validateFd, validateLength, validateOneOf } from './validate.js';

export type SeekWhence = 'set' | 'current' | 'end' | 'data' | 'hole';

const WHENCE: Record<SeekWhence, ConstantName> = {
  set: 'SEEK_SET',
  current: 'SEEK_CUR',
  end: 'SEEK_END',
  data: 'SEEK_DATA',
  hole: 'SEEK_HOLE',
};

/**
 * lseek(2): moves the descriptor's file position and returns the new one. `offset` is
 * non-negative (a negative move relative to 'current' or 'end' is not offered). ESPIPE on
 * pipes and sockets; ENXIO for 'data'/'hole' at or past the end of the file.
 */
export function seek(fd: number, offset: Offset, whence: SeekWhence = 'set'): number {
  const native = binding();
  const name = WHENCE[validateOneOf(whence, 'whence', Object.keys(WHENCE) as SeekWhence[])];
  return check(native.lseek(validateFd(fd, 'fd'), validateLength(offset, 'offset'), native.constants[name]), 'lseek');
}

/**
 * SEEK_DATA: the first offset at or after `offset` that holds data, or null when only a
 * hole (or the end of the file) follows. File systems without hole tracking report the
 * whole file as data. Moves the file position.
 */
export function seekData(fd: number, offset: Offset): number | null {
  const native = binding();
  const result = native.lseek(validateFd(fd, 'fd'), validateLength(offset, 'offset'), native.constants.SEEK_DATA);
  if (result === ENXIO) return null;
  return check(result, 'lseek');
}

/**
 * SEEK_HOLE: the first offset at or after `offset` that is in a hole; the end of the file
 * counts as one, so a file without holes answers its size. Null when `offset` is past the
 * end. Moves the file position.
 */
export function seekHole(fd: number, offset: Offset): number | null {
  const native = binding();
  const result = native.lseek(validateFd(fd, 'fd'), validateLength(offset, 'offset'), native.constants.SEEK_HOLE);
  if (result === ENXIO) return null;
  return check(result, 'lseek');
}
