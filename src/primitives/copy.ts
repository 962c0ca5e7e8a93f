import { binding } from '../binding/load.js';
import { check } from '../errors.js';
import { type Offset, validateFd, validateLength, validateOptionalOffset } from './validate.js';

function copyArguments(inFd: number, inOffset: Offset | null, outFd: number, outOffset: Offset | null, count: Offset) {
  const native = binding();
  return [
    validateFd(inFd, 'inFd'),
    validateOptionalOffset(inOffset, 'inOffset'),
    validateFd(outFd, 'outFd'),
    validateOptionalOffset(outOffset, 'outOffset'),
    Math.min(validateLength(count, 'count'), native.constants.MAX_RW_COUNT),
    0,
  ] as const;
}

/**
 * copy_file_range(2): copies up to `count` bytes between two regular files inside the
 * kernel (and shares extents where the file system can). Returns the bytes copied, which
 * may be short; 0 at the end of the source. A 0 on the very first call for a file that
 * claims a non-zero size (procfs, sysfs) means "not supported here", not "empty".
 * Across file systems: EXDEV before Linux 5.3 and again since 5.19 on most pairs.
 */
export function copyFileRange(
  inFd: number,
  inOffset: Offset | null,
  outFd: number,
  outOffset: Offset | null,
  count: Offset,
): number {
  const native = binding();
  return check(native.copyFileRange(...copyArguments(inFd, inOffset, outFd, outOffset, count)), 'copy_file_range');
}

/** copy_file_range(2) on libuv's thread pool: copies of files not in the page cache wait for the disk. */
export async function copyFileRangeAsync(
  inFd: number,
  inOffset: Offset | null,
  outFd: number,
  outOffset: Offset | null,
  count: Offset,
): Promise<number> {
  const native = binding();
  return check(
    await native.copyFileRangeInPool(...copyArguments(inFd, inOffset, outFd, outOffset, count)),
    'copy_file_range',
  );
}

/**
 * ioctl(FICLONE): makes `destFd` share all of `srcFd`'s extents (a reflink, as
 * `cp --reflink`): instant, and no space used until either file changes. Needs a file
 * system with reflinks (btrfs, xfs, bcachefs, ...) and both files on it: EOPNOTSUPP,
 * EXDEV or EINVAL otherwise. Node names EOPNOTSUPP by its Linux alias: branch on
 * `code === 'ENOTSUP'`.
 */
export function cloneFile(srcFd: number, destFd: number): void {
  const native = binding();
  check(native.ficlone(validateFd(destFd, 'destFd'), validateFd(srcFd, 'srcFd')), 'ioctl');
}

/**
 * ioctl(FICLONERANGE): shares `length` bytes of `srcFd` at `srcOffset` into `destFd` at
 * `destOffset`. Offsets and length must be multiples of the file system block size (a
 * `length` of 0 means "to the end of the source").
 */
export function cloneRange(srcFd: number, srcOffset: Offset, destFd: number, destOffset: Offset, length: Offset): void {
  const native = binding();
  check(
    native.ficloneRange(
      validateFd(destFd, 'destFd'),
      validateFd(srcFd, 'srcFd'),
      validateLength(srcOffset, 'srcOffset'),
      validateLength(length, 'length'),
      validateLength(destOffset, 'destOffset'),
    ),
    'ioctl',
  );
}
