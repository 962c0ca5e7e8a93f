// file -> file by copy_file_range(2), or by sharing extents (FICLONE).
import { EINTR } from '../../binding/errno.js';
import { binding } from '../../binding/load.js';
import { systemError } from '../../errors.js';
import type { TransferContext } from '../context.js';

/**
 * Go copies in rounds of at most 1 GiB; we take smaller rounds so that an abort is seen
 * within a fraction of a second even when the kernel copies the data itself.
 */
const ROUND = 64 * 1024 * 1024;

/** Moves `context.remaining` bytes; returns false if the source ended first. */
export async function copyFileRangeLoop(context: TransferContext): Promise<boolean> {
  const native = binding();
  const { source, destination } = context;
  while (context.remaining > 0) {
    context.throwIfAborted();
    const count = Math.min(context.remaining, ROUND);
    const offset = context.offset;
    // Both sides may wait for the disk (reads of cold pages, writeback throttling): always the pool.
    const result = await native.copyFileRangeInPool(source.fd, offset, destination.fd, -1, count, 0);
    context.ranInPool();
    context.moved(result);
    if (result > 0) context.offset += result;
    else if (result === 0) return false;
    else if (result !== EINTR) throw systemError(result, 'copy_file_range');
  }
  return true;
}

/** FICLONE of the whole source; -errno when the file system cannot. */
export function cloneWholeFile(context: TransferContext): number {
  const native = binding();
  const result = native.ficlone(context.destination.fd, context.source.fd);
  context.syscalls++;
  if (result === 0) {
    context.bytes = context.source.size;
    context.remaining = 0;
  }
  return result;
}
