// Reading a directory for a listing: in bounded batches off the event loop (fs.opendir reads a
// batch of names on the thread pool, lstat runs there too), with the same rules as file
// serving (dotfiles hidden, symlinks that lead outside the root left out), and at most
// `limit` entries kept, however large the directory.
import type { Dirent } from 'node:fs';
import { lstat, opendir, realpath, stat } from 'node:fs/promises';

import { type DotfilesPolicy, isInside, type Jail } from './resolve-path.js';

export interface ListedEntry {
  /** The name as the file system has it: bytes, since names need not be UTF-8. */
  name: Buffer;
  /** The name's bytes as a latin1 string: compared with <, it orders names as their bytes do, fast. */
  sortKey: string;
  kind: 'directory' | 'file' | 'other';
  /** Bytes, for files; undefined for the rest. */
  size: number | undefined;
  mtimeMs: number;
}

export interface DirectoryRead {
  entries: ListedEntry[];
  /** The directory had more entries than `limit` (the rest were not read). */
  truncated: boolean;
  /** Directory entries looked at (visible or not). */
  scanned: number;
  /** Batches read from the directory (each one a thread-pool round trip). */
  batches: number;
}

/** Names read per opendir() batch, and stat calls in flight at once. */
export const LISTING_BATCH = 128;

const DOT = 0x2e;

/** Whether `name` is shown: dotfiles follow the dotfiles policy (only 'allow' lists them). */
function visibleName(name: Buffer, dotfiles: DotfilesPolicy): boolean {
  return dotfiles === 'allow' || name[0] !== DOT;
}

async function describe(
  dirPath: Buffer,
  dirent: Dirent<Buffer>,
  jail: Jail | undefined,
): Promise<ListedEntry | undefined> {
  const name = dirent.name;
  const path = Buffer.concat([dirPath, Buffer.from('/'), name]);
  try {
    let info = await lstat(path);
    if (info.isSymbolicLink()) {
      if (jail !== undefined && !jail.allowSymlinksOutside) {
        // Where it leads decides, as for files: outside the root it is refused, so not listed.
        const target = await realpath(path, { encoding: 'buffer' });
        if (!isInside(jail.realRoot, target.toString())) return undefined;
      }
      info = await stat(path);
    }
    const kind = info.isDirectory() ? 'directory' : info.isFile() ? 'file' : 'other';
    return {
      name,
      sortKey: name.toString('latin1'),
      kind,
      size: kind === 'file' ? info.size : undefined,
      mtimeMs: info.mtimeMs,
    };
  } catch {
    // Gone since it was read, a dangling symlink, no permission: not listed.
    return undefined;
  }
}

/**
 * The visible entries of `dirPath`, at most `limit` of them, in the order the directory gives
 * them. Reads LISTING_BATCH names at a time and stats them together, so that neither the
 * memory nor any one turn of the event loop grows with the directory.
 */
export async function readDirectory(
  dirPath: string,
  options: {
    limit: number;
    dotfiles: DotfilesPolicy;
    jail: Jail | undefined;
    unlisted?: ((name: string) => boolean) | undefined;
  },
): Promise<DirectoryRead> {
  const dirBytes = Buffer.from(dirPath);
  // Buffer names (Node documents 'buffer' here; its types only list text encodings).
  const dir = await opendir(dirPath, { encoding: 'buffer' as BufferEncoding, bufferSize: LISTING_BATCH });
  const entries: ListedEntry[] = [];
  let scanned = 0;
  let batches = 0;
  let truncated = false;
  try {
    let pending: Array<Dirent<Buffer>> = [];
    const flush = async () => {
      batches++;
      const described = await Promise.all(pending.map((dirent) => describe(dirBytes, dirent, options.jail)));
      pending = [];
      for (const entry of described) {
        if (entry === undefined) continue;
        if (entries.length === options.limit) {
          truncated = true;
          return;
        }
        entries.push(entry);
      }
    };
    for (;;) {
      const dirent = (await dir.read()) as Dirent<Buffer> | null;
      if (dirent === null) break;
      scanned++;
      if (!visibleName(dirent.name, options.dotfiles)) continue;
      if (options.unlisted?.(dirent.name.toString()) === true) continue;
      pending.push(dirent);
      if (pending.length === LISTING_BATCH) {
        await flush();
        if (truncated) break;
      }
    }
    if (!truncated && pending.length > 0) await flush();
  } finally {
    await dir.close().catch(() => undefined);
  }
  return { entries, truncated, scanned, batches };
}

/** Directories first, then by name (bytes compared: the same order everywhere, no locale). */
export function compareEntries(a: ListedEntry, b: ListedEntry): number {
  const aDir = a.kind === 'directory';
  if (aDir !== (b.kind === 'directory')) return aDir ? -1 : 1;
  return a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0;
}

/** Elements sorted or merged between two turns of the event loop. */
const SORT_SLICE = 4096;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Sorts `entries` by compareEntries without holding the event loop for long: runs of
 * SORT_SLICE are sorted one per turn, then merged bottom-up, SORT_SLICE elements per turn.
 */
export async function sortInTurns(entries: ListedEntry[]): Promise<ListedEntry[]> {
  if (entries.length <= SORT_SLICE) return entries.sort(compareEntries);
  for (let at = 0; at < entries.length; at += SORT_SLICE) {
    const run = entries.slice(at, at + SORT_SLICE).sort(compareEntries);
    for (let i = 0; i < run.length; i++) entries[at + i] = run[i]!;
    await nextTurn();
  }
  let from = entries;
  let to: ListedEntry[] = new Array(entries.length);
  let budget = SORT_SLICE;
  for (let width = SORT_SLICE; width < entries.length; width *= 2) {
    for (let start = 0; start < entries.length; start += 2 * width) {
      const middle = Math.min(start + width, entries.length);
      const end = Math.min(start + 2 * width, entries.length);
      let left = start;
      let right = middle;
      for (let out = start; out < end; out++) {
        to[out] =
          right >= end || (left < middle && compareEntries(from[left]!, from[right]!) <= 0)
            ? from[left++]!
            : from[right++]!;
        if (--budget === 0) {
          budget = SORT_SLICE;
          await nextTurn();
        }
      }
    }
    [from, to] = [to, from];
  }
  return from;
}
