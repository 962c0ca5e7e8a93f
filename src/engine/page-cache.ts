// Whether a file range is in memory, so that a call reading it cannot sleep on the disk.
import { ENOSYS } from '../binding/errno.js';
import { addonStatus, binding } from '../binding/load.js';

let cachestatMissing = false;

/**
 * True when every page of [offset, offset + length) is in the page cache and none is still
 * being read in (cachestat(2), Linux 6.5+, and RWF_NOWAIT probes: see native/syscalls/page_cache.h).
 * When the kernel cannot tell, the answer is false: the caller then runs the call on the
 * thread pool, which is always safe, only slower.
 */
export function isResident(fd: number, offset: number, length: number): boolean {
  if (length === 0) return true;
  if (cachestatMissing || !addonStatus().available) return false;
  const answer = binding().residentNow(fd, offset, length);
  if (answer === ENOSYS) cachestatMissing = true; // remember for the process
  return answer === 1;
}

/**
 * Residency of a file read front to back, checked a window at a time: a sequential
 * transfer asks cachestat once per window instead of once per call (its cost grows with
 * the pages it looks at). A range found resident is trusted until the transfer moves past
 * it, which is no weaker than checking before every call: eviction can race either way.
 */
export class ResidencyWindow {
  #residentFrom = 0;
  #residentTo = 0;
  /**
   * Once part of the file was found on disk, every later call stays on the thread pool:
   * even a call on pages that are in memory by then starts readahead for the ones that are
   * not, and submitting that I/O can block when the device queue is full.
   */
  #cold = false;

  constructor(
    private readonly fd: number,
    private readonly windowBytes = 8 * 1024 * 1024,
  ) {}

  /** How many of the `wanted` bytes at `offset` can be read without waiting for the disk (0: none). */
  inlineBytes(offset: number, wanted: number, fileEnd: number): number {
    if (this.#cold) return 0;
    if (offset < this.#residentFrom || offset >= this.#residentTo) {
      const window = Math.max(1, Math.min(this.windowBytes, fileEnd - offset));
      if (!isResident(this.fd, offset, window)) {
        this.#cold = true;
        return 0;
      }
      this.#residentFrom = offset;
      this.#residentTo = offset + window;
    }
    return Math.min(wanted, this.#residentTo - offset);
  }
}
