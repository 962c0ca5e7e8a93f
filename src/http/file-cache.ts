// Small files kept in memory, in the spirit of nginx's open_file_cache: the bytes and the
// response validators of files that the uncached path already decided to serve, reused for at
// most `validityMs` before that decision is made again from scratch (open, stat, jail check).
import type { BigIntStats } from 'node:fs';

import type { Encoding } from './headers.js';

export interface FileCacheLimits {
  /** An entry is used for at most this long after the disk last confirmed it (ms). 0: no cache. */
  validityMs: number;
  /** Larger files are never cached (bytes). */
  maxFileBytes: number;
  /** Sum of the cached bodies (bytes). */
  maxBytes: number;
  /** Number of entries. */
  maxEntries: number;
}

/**
 * Defaults. nginx's open_file_cache_valid defaults to 60 s; 1 s bounds how long a deploy can be
 * seen stale. 256 KiB covers the small files the bench measures (4 and 64 KiB) with room;
 * larger bodies leave by sendfile, which copies nothing in user space anyway.
 */
export const DEFAULT_FILE_CACHE_LIMITS: FileCacheLimits = {
  validityMs: 1000,
  maxFileBytes: 256 * 1024,
  maxBytes: 64 * 1024 * 1024,
  maxEntries: 4096,
};

/**
 * A file changed this recently (by ctime) is not cached: two writes within one tick of the
 * file system clock can leave size, mtime and ctime all equal, so a cached copy of the first
 * could never be told from the second (Git calls this "racily clean"). Past this age any
 * further write moves ctime, and revalidation sees it.
 */
export const RACY_WINDOW_MS = 1000;

/** Characters of remembered request-targets and their path keys: 512 a target on average for 16,384 of them. */
const MAX_PATH_KEY_CHARS = 8 * 1024 * 1024;

/** What identifies the bytes on disk: any write, rename over, chmod or touch changes one of these. */
export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

export function identityOf(stat: BigIntStats): FileIdentity {
  return { dev: stat.dev, ino: stat.ino, size: stat.size, mtimeNs: stat.mtimeNs, ctimeNs: stat.ctimeNs };
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** One cached representation: the body and everything the headers are made of. */
export interface CachedFile {
  readonly key: string;
  /** The whole file (or .br/.gz sibling); never written to, shared by every response. */
  readonly body: Buffer;
  /** The file asked for (its name gives Content-Type). */
  readonly path: string;
  /** The file read: the sibling when `encoding` is set, otherwise `path`. */
  readonly servedPath: string;
  readonly encoding: Encoding | undefined;
  readonly identity: FileIdentity;
  readonly size: number;
  readonly mtimeMs: number;
  /** Precomputed header values; undefined when the handler's options leave the header out. */
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  readonly contentType: string;
  /**
   * The whole 200 header block, in the order the uncached path sets it, for res.writeHead()
   * when nothing else has touched the response: [name, value, name, value, ...].
   */
  readonly headers200: readonly string[];
  /** performance.now() after which the disk must be asked again. */
  validUntil: number;
  /** A compressed variant computed from the file (`encoding` is its encoding; `servedPath` is the file). */
  readonly computed?: true;
}

/** Least recently used first out; bounded by entries and by body bytes. */
export class FileCache {
  readonly limits: FileCacheLimits;
  // A Map iterates in insertion order; a hit re-inserts, so the first key is the coldest.
  readonly #entries = new Map<string, CachedFile>();
  #bytes = 0;
  // request-target -> path key (or null: never cacheable). Memoises a pure function of the
  // string, so it can never be wrong, only full (in entries, or in characters: a client picks
  // how long its targets are); then it starts over.
  readonly #pathKeys = new Map<string, string | null>();
  #pathKeyChars = 0;

  constructor(limits: Partial<FileCacheLimits> = {}) {
    const merged = { ...DEFAULT_FILE_CACHE_LIMITS, ...limits };
    for (const [name, value] of Object.entries(merged)) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(`file cache ${name} must be a non-negative integer, not ${String(value)}`);
      }
    }
    this.limits = merged;
  }

  /** The entry for `key`, fresh or not (the caller checks validUntil); marks it recently used. */
  get(key: string): CachedFile | undefined {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
    }
    return entry;
  }

  /** Whether a body of `size` bytes may be cached at all. */
  accepts(size: number): boolean {
    return size <= this.limits.maxFileBytes && size <= this.limits.maxBytes && this.limits.maxEntries > 0;
  }

  /** Stores `entry` (replacing its key's), evicting the coldest entries to stay in bounds. */
  set(entry: CachedFile): boolean {
    if (!this.accepts(entry.body.length)) return false;
    this.delete(entry.key);
    while (
      this.#entries.size > 0 &&
      (this.#entries.size + 1 > this.limits.maxEntries || this.#bytes + entry.body.length > this.limits.maxBytes)
    ) {
      const coldest = this.#entries.keys().next().value as string;
      this.delete(coldest);
    }
    this.#entries.set(entry.key, entry);
    this.#bytes += entry.body.length;
    return true;
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.body.length;
  }

  clear(): void {
    this.#entries.clear();
    this.#pathKeys.clear();
    this.#pathKeyChars = 0;
    this.#bytes = 0;
  }

  /** The remembered path key of a request-target: a string, null (not cacheable), or undefined (not seen). */
  pathKeyOf(target: string): string | null | undefined {
    return this.#pathKeys.get(target);
  }

  rememberPathKey(target: string, key: string | null): void {
    const chars = target.length + (key?.length ?? 0);
    if (this.#pathKeys.size >= this.limits.maxEntries * 4 + 64 || this.#pathKeyChars + chars > MAX_PATH_KEY_CHARS) {
      this.#pathKeys.clear();
      this.#pathKeyChars = 0;
    }
    this.#pathKeys.set(target, key);
    this.#pathKeyChars += chars;
  }

  get entries(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }
}

/**
 * The cache key of a request: the path as the uncached path decodes it (segments, trailing
 * slash), so that two spellings share an entry only when they already share a decision,
 * plus the encodings the client accepts when precompressed siblings are served.
 */
export function pathKey(segments: readonly string[], trailingSlash: boolean): string {
  // Segments never contain '/', so the join is unambiguous.
  return `${trailingSlash ? 'd' : 'f'}/${segments.join('/')}`;
}

export function cacheKey(path: string, encodings: readonly Encoding[]): string {
  return encodings.length === 0 ? path : `${path}\0${encodings.join(',')}`;
}
