// Where a file's data is: the extents SEEK_DATA / SEEK_HOLE report, so a copy can skip holes.
import { addonStatus } from '../binding/load.js';
import { seekData, seekHole } from '../primitives/seek.js';

export interface Extent {
  offset: number;
  length: number;
}

/**
 * The data extents of the open file `fd` of `size` bytes, in order. A file system that
 * does not track holes reports the whole file as one extent (which is what SEEK_HOLE
 * returning the size means); one that does not know SEEK_DATA at all (EINVAL) gets the
 * same answer, so the copy is complete, just not sparse; so does a process without the
 * native addon, which has no lseek(SEEK_DATA). Moves the file position of `fd`.
 */
export function dataExtents(fd: number, size: number): Extent[] {
  if (size === 0) return [];
  if (!addonStatus().available) return [{ offset: 0, length: size }];
  const extents: Extent[] = [];
  let offset = 0;
  try {
    // Bounded: every round moves `offset` forward past one extent and one hole.
    while (offset < size) {
      const start = seekData(fd, offset);
      if (start === null || start >= size) break;
      const end = Math.min(seekHole(fd, start) ?? size, size);
      if (end <= start) break;
      extents.push({ offset: start, length: end - start });
      offset = end;
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EINVAL' || code === 'EOPNOTSUPP' || code === 'ENOTSUP') return [{ offset: 0, length: size }];
    throw error;
  }
  return extents;
}
