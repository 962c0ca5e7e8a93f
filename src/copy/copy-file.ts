// copyFile(): one file to another as GNU cp does it: reflink, then copy_file_range per data
// extent (holes stay holes), then a read/write fallback, into a temporary file that is
// renamed over the destination only once it is complete.
import { constants as fsConstants, type Stats } from 'node:fs';
import { type FileHandle, lstat, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { addonStatus } from '../binding/load.js';
import { invalidArgType, notAFile, reflinkUnsupportedCopy, sameFileCopy } from '../errors.js';
import { cloneFile } from '../primitives/copy.js';
import { seek } from '../primitives/seek.js';
import { validateBoolean, validateObject, validateOneOf } from '../primitives/validate.js';
import { transfer } from '../transfer/index.js';
import type { TransferFallback } from '../transfer/types.js';
import { dataExtents, type Extent } from './sparse.js';

export type ReflinkMode = 'auto' | 'always' | 'never';

export interface CopyFileOptions {
  /**
   * 'auto' (default, as GNU cp 9): share extents (FICLONE) when the file system can, copy
   * otherwise. 'always': fail with ERR_ZEROCOPY_REFLINK_UNSUPPORTED when it cannot.
   * 'never': always copy the bytes.
   */
  reflink?: ReflinkMode;
  /** 'auto' (default): holes in the source stay holes in the copy. 'never': write every byte. */
  sparse?: 'auto' | 'never';
  /** Copy the permission bits and/or the access and modification times (cp -p). */
  preserve?: boolean | { mode?: boolean; times?: boolean };
  /** Replace an existing destination (default true); false fails with EEXIST (cp -n). */
  overwrite?: boolean;
  /** fsync the copy and its directory before resolving. Default false. */
  fsync?: boolean;
  /** Stops the copy; the destination is left as it was and the temporary file removed. */
  signal?: AbortSignal;
  /** Told the bytes done so far and the total, after each call that moved bytes. */
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
}

export interface CopyFileReport {
  /** Bytes of data copied (holes are not counted; a reflink counts the whole size). */
  bytes: number;
  /** The source's size, which the copy has too. */
  size: number;
  /** 'splice': bytes copied through a pipe in the kernel, where copy_file_range could have shared extents. */
  method: 'reflink' | 'copy_file_range' | 'splice' | 'copy';
  /** Why bytes went through userspace, when they did. */
  fallback?: TransferFallback;
  /** Why a reflink was not made, when one was asked for ('auto') and not possible. */
  reflinkUnavailable?: string;
  /** Data extents copied; holes between them were skipped. */
  extents: number;
  /** Bytes of holes left as holes. */
  holeBytes: number;
  durationMs: number;
}

export interface CopyError extends Error {
  code: string;
  path?: string;
  dest?: string;
}

function coded(message: string, code: string, source: string, destination: string): CopyError {
  const error = new Error(message) as CopyError;
  error.code = code;
  error.path = source;
  error.dest = destination;
  return error;
}

function pathArg(value: unknown, name: string): string {
  if (typeof value === 'string' && value.length > 0) return value;
  if (value instanceof URL) return value.pathname;
  throw invalidArgType(name, 'a non-empty path string or file: URL', value);
}

async function statOrUndefined(path: string, follow: boolean): Promise<Stats | undefined> {
  try {
    return follow ? await stat(path) : await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Errors from FICLONE that mean "not here", not "something broke". */
/**
 * A name no other copy uses at the same time: the pid, a counter and some randomness. Not
 * node:crypto, whose loading is a good part of `zerocopy cp`'s start-up; O_EXCL, which does not
 * follow symlinks, makes a guessed or taken name an error rather than a hazard.
 */
let temporaries = 0;
function temporarySuffix(): string {
  const random = Math.floor(Math.random() * 0x1_0000_0000).toString(16);
  return `${process.pid.toString(16)}-${(temporaries++).toString(16)}-${random}`;
}

const NO_REFLINK = new Set(['EOPNOTSUPP', 'ENOTSUP', 'EXDEV', 'EINVAL', 'ENOTTY', 'ENOSYS', 'EPERM', 'EBADF']);

/**
 * Copies the regular file `source` to `destination` inside the kernel where it can, and
 * reports how. The destination appears only when complete: the bytes go to a temporary
 * file in the destination's directory, renamed over it at the end; on any error (or
 * abort) the temporary file is removed and an existing destination is untouched.
 * Refuses to copy a file onto itself (ERR_ZEROCOPY_SAME_FILE).
 *
 * A replaced destination keeps its permission bits unless `preserve.mode` is set; a new
 * one gets the source's, less the umask (as cp does). Ownership is not copied.
 */
export async function copyFile(
  source: string | URL,
  destination: string | URL,
  options?: CopyFileOptions,
): Promise<CopyFileReport> {
  const started = performance.now();
  const from = pathArg(source, 'source');
  const to = pathArg(destination, 'destination');
  const opts = validateObject(options, 'options') as CopyFileOptions;
  const reflink =
    opts.reflink === undefined
      ? 'auto'
      : validateOneOf(opts.reflink, 'options.reflink', ['auto', 'always', 'never'] as const);
  const sparse =
    opts.sparse === undefined ? 'auto' : validateOneOf(opts.sparse, 'options.sparse', ['auto', 'never'] as const);
  const preserveOption = opts.preserve ?? false;
  const preserve =
    typeof preserveOption === 'boolean'
      ? { mode: preserveOption, times: preserveOption }
      : { mode: preserveOption.mode === true, times: preserveOption.times === true };
  const overwrite = opts.overwrite === undefined ? true : validateBoolean(opts.overwrite, 'options.overwrite');
  const fsync = opts.fsync === undefined ? false : validateBoolean(opts.fsync, 'options.fsync');
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function')
    throw invalidArgType('options.onProgress', 'a function', opts.onProgress);
  opts.signal?.throwIfAborted();

  const input = await open(from, 'r');
  let temporary: string | undefined;
  let output: FileHandle | undefined;
  try {
    const sourceStats = await input.stat();
    if (sourceStats.isDirectory())
      throw coded(`EISDIR: illegal operation on a directory, copy '${from}'`, 'EISDIR', from, to);
    if (!sourceStats.isFile()) throw notAFile(from, to);
    const existing = await statOrUndefined(to, true);
    if (existing?.isDirectory())
      throw coded(`EISDIR: the destination is a directory, copy '${from}' -> '${to}'`, 'EISDIR', from, to);
    if (existing !== undefined && existing.dev === sourceStats.dev && existing.ino === sourceStats.ino)
      throw sameFileCopy(from, to);
    if (existing !== undefined && !overwrite)
      throw coded(`EEXIST: file already exists, copy '${from}' -> '${to}'`, 'EEXIST', from, to);

    // Same directory as the destination: the final rename stays on one file system.
    temporary = join(dirname(to), `.${basename(to)}.${temporarySuffix()}.zerocopy-tmp`);
    const mode = preserve.mode || existing === undefined ? sourceStats.mode & 0o7777 : existing.mode & 0o7777;
    output = await open(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode & 0o777);
    const size = sourceStats.size;

    let method: CopyFileReport['method'] = 'copy_file_range';
    let fallback: TransferFallback | undefined;
    let reflinkUnavailable: string | undefined;
    let bytes = 0;
    let extents: Extent[] = [];

    const addon = addonStatus();
    if (reflink !== 'never' && size > 0 && !addon.available) {
      // No FICLONE without the addon: 'auto' copies, 'always' says why it cannot share.
      reflinkUnavailable = 'native addon unavailable';
      if (reflink === 'always') throw reflinkUnsupportedCopy(from, to, reflinkUnavailable, undefined);
    } else if (reflink !== 'never' && size > 0) {
      try {
        cloneFile(input.fd, output.fd);
        method = 'reflink';
        bytes = size;
        opts.onProgress?.(size, size);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? '';
        if (!NO_REFLINK.has(code)) throw error;
        reflinkUnavailable = `${code}: this file system cannot share extents between these files`;
        if (reflink === 'always')
          throw reflinkUnsupportedCopy(from, to, reflinkUnavailable, (error as NodeJS.ErrnoException).errno);
      }
    }

    if (method !== 'reflink') {
      extents = sparse === 'auto' ? dataExtents(input.fd, size) : size > 0 ? [{ offset: 0, length: size }] : [];
      for (const extent of extents) {
        opts.signal?.throwIfAborted();
        // transfer() writes at the destination's file position, which its dup shares. The
        // new temporary file starts at 0, so the first extent needs no lseek (and a process
        // without the addon, which cannot seek, gets only that one extent).
        if (extent.offset !== 0) seek(output.fd, extent.offset, 'set');
        const before = bytes;
        const report = await transfer(input.fd, output.fd, {
          offset: extent.offset,
          length: extent.length,
          // copy_file_range is one call where read+write are two, whatever the size.
          smallTransferBytes: 0,
          // copy_file_range may share extents on xfs/btrfs: 'never' has to mean a real copy.
          ...(reflink === 'never' ? { reflink: 'never' as const } : {}),
          ...(opts.signal === undefined ? {} : { signal: opts.signal }),
          ...(opts.onProgress === undefined
            ? {}
            : { onProgress: (done: number) => opts.onProgress?.(before + done, size) }),
        });
        bytes += report.bytes;
        if (report.method === 'copy') {
          method = 'copy';
          fallback ??= report.fallback;
        } else if (report.method === 'splice' && method !== 'copy') {
          method = 'splice';
        }
      }
      // The size, and any hole at the end, that no extent wrote.
      await output.truncate(size);
    }

    if (preserve.mode) await output.chmod(sourceStats.mode & 0o7777);
    else if (existing !== undefined) await output.chmod(mode);
    if (preserve.times) await output.utimes(sourceStats.atime, sourceStats.mtime);
    if (fsync) await output.sync();
    await output.close();
    output = undefined;
    opts.signal?.throwIfAborted();
    await rename(temporary, to);
    temporary = undefined;
    if (fsync) await syncDirectory(dirname(to));

    const report: CopyFileReport = {
      bytes,
      size,
      method,
      extents: method === 'reflink' ? 0 : extents.length,
      holeBytes: method === 'reflink' ? 0 : size - extents.reduce((sum, extent) => sum + extent.length, 0),
      durationMs: performance.now() - started,
    };
    if (fallback !== undefined) report.fallback = fallback;
    if (reflinkUnavailable !== undefined && method !== 'reflink') report.reflinkUnavailable = reflinkUnavailable;
    return report;
  } finally {
    await input.close().catch(() => {});
    if (output !== undefined) await output.close().catch(() => {});
    if (temporary !== undefined) await unlink(temporary).catch(() => {});
  }
}

/** After a rename, the directory entry itself reaches the disk only when the directory is synced. */
async function syncDirectory(path: string): Promise<void> {
  const directory = await open(path, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
