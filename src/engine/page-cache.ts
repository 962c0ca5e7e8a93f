// Whether a file range is in memory, so that a call reading it cannot sleep on the disk.
import { addonStatus, binding } from '../binding/load.js';

let cachestatMissing = false;

/**
 * True when every page of [offset, offset + length) is in the page cache (cachestat(2),
 * Linux 6.5+). When the kernel cannot tell, the answer is false: the caller then runs the
 * call on the thread pool, which is always safe, only slower.
 */
export function isResident(fd: number, offset: number, length: number): boolean {
  if (length === 0) return true;
  if (cachestatMissing || !addonStatus().available) return false;
  const native = binding();
  const pages = native.cachedPages(fd, offset, length);
  if (pages < 0) {
    if (pages === -38) cachestatMissing = true; // ENOSYS: remember for the process
    return false;
  }
  const { PAGE_SIZE } = native.constants;
  const first = Math.floor(offset / PAGE_SIZE);
  const last = Math.floor((offset + length - 1) / PAGE_SIZE);
  return pages >= last - first + 1;
}
