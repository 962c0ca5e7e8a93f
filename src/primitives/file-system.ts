import { binding } from '../binding/load.js';
import { check } from '../errors.js';
import { validateFd } from './validate.js';

/** statfs f_type magic numbers of the file systems people run, by name. */
export const FILE_SYSTEM_NAMES: Readonly<Record<number, string>> = {
  61267: 'ext4',
  16914836: 'tmpfs',
  1481003842: 'xfs',
  2435016766: 'btrfs',
  3393526350: 'bcachefs',
  2035054128: 'overlayfs',
  26985: 'nfs',
  801189825: 'zfs',
  1952539503: 'ocfs2',
  1702057286: 'fuse',
  2240043254: 'ramfs',
  40864: 'procfs',
  1650812274: 'sysfs',
  19780: 'vfat',
  1397118030: 'ntfs',
  4076150800: 'f2fs',
};

export function fileSystemName(type: number): string {
  return FILE_SYSTEM_NAMES[type] ?? `0x${type.toString(16)}`;
}

/** fstatfs(2): the name of the file system `fd` is on ('ext4', 'xfs', ...; a hex magic number if unknown). */
export function fileSystemOf(fd: number): string {
  return fileSystemName(check(binding().fileSystemType(validateFd(fd, 'fd')), 'fstatfs'));
}

/**
 * File systems whose copy_file_range copies bytes and never shares extents. On the others
 * (xfs, btrfs, bcachefs, zfs, nfs, overlays of those, anything unknown) it may answer with
 * a reflink, which a caller who said "no reflink" must not get.
 */
const NEVER_SHARES = new Set(['ext4', 'tmpfs', 'ramfs', 'f2fs', 'vfat', 'ntfs']);

export function mayShareExtents(fd: number): boolean {
  return !NEVER_SHARES.has(fileSystemOf(fd));
}
