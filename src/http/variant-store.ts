// Compressed variants of files, computed once and kept in sealed memfds: built on the thread
// pool (zlib's async API) from the bytes of a file at one identity, looked up by the file and
// the encoding, and dropped as soon as the file on disk is seen with another identity.
// Bounded in bytes and entries, least recently used first out; every variant is one
// descriptor, closed when evicted (or, if a response is reading it, when that response ends).
import { closeSync, write } from 'node:fs';
import { promisify } from 'node:util';
import { brotliCompress, gzip } from 'node:zlib';

import { addSeals, memfdCreate } from '../primitives/memfd.js';
import { zlibOptions } from './compress-policy.js';
import { type FileIdentity, sameIdentity } from './file-cache.js';
import type { Encoding } from './headers.js';

export interface VariantStoreLimits {
  /** Bytes of compressed variants kept at most. */
  maxBytes: number;
  /** Variants (descriptors) kept at most. */
  maxEntries: number;
  /** Variants being computed at once; more cold files are answered identity until one finishes. */
  buildsInFlight: number;
}

/**
 * Its own budget, not a share of the file cache's: a variant is a descriptor and bytes in
 * memory the file cache does not see. 32 MiB holds the compressed text of a large web app
 * many times over. Two builds at once leave the rest of the thread pool (4 threads) to file
 * operations and the native front's disk reads.
 */
export const DEFAULT_VARIANT_LIMITS: VariantStoreLimits = {
  maxBytes: 32 * 1024 * 1024,
  maxEntries: 1024,
  buildsInFlight: 2,
};

export interface VariantStats {
  entries: number;
  bytes: number;
  building: number;
  built: number;
  /** Variants not kept because they came out no smaller than the file. */
  notSmaller: number;
  evictions: number;
  failures: number;
}

/** A variant in use: its descriptor stays open until release(). */
export interface PinnedVariant {
  readonly fd: number;
  readonly size: number;
  readonly encoding: Encoding;
  release(): void;
}

interface Variant {
  readonly key: string;
  readonly identity: FileIdentity;
  readonly encoding: Encoding;
  readonly fd: number;
  readonly size: number;
  pins: number;
  evicted: boolean;
}

const compressors: Record<Encoding, (data: Buffer, options: object) => Promise<Buffer>> = {
  br: promisify(brotliCompress) as (data: Buffer, options: object) => Promise<Buffer>,
  gzip: promisify(gzip) as (data: Buffer, options: object) => Promise<Buffer>,
};
const writeAt = promisify(write);

/** A variant's descriptor is closed when its store is collected without close(). */
const orphans = new FinalizationRegistry<Set<number>>((fds) => {
  for (const fd of fds) closeSync(fd);
});

function variantKey(path: string, encoding: Encoding): string {
  return `${encoding}\0${path}`;
}

export class VariantStore {
  readonly limits: VariantStoreLimits;
  // Insertion order is recency: a hit re-inserts, so the first key is the coldest.
  readonly #variants = new Map<string, Variant>();
  // The identity a key was last built for and found no smaller: not built again for it.
  readonly #notSmaller = new Map<string, FileIdentity>();
  readonly #building = new Map<string, Promise<void>>();
  readonly #open = new Set<number>();
  #bytes = 0;
  #built = 0;
  #notSmallerCount = 0;
  #evictions = 0;
  #failures = 0;
  #closed = false;

  constructor(limits: Partial<VariantStoreLimits> = {}) {
    const merged = { ...DEFAULT_VARIANT_LIMITS, ...limits };
    for (const [name, value] of Object.entries(merged)) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(`compressed variants ${name} must be a non-negative integer, not ${String(value)}`);
      }
    }
    this.limits = merged;
    orphans.register(this, this.#open, this);
  }

  /**
   * The variant of the file at `path` in `encoding`, if one was built from this identity of
   * the file; pinned (the caller releases it). One built from another identity is dropped.
   */
  take(path: string, identity: FileIdentity, encoding: Encoding): PinnedVariant | undefined {
    const key = variantKey(path, encoding);
    const variant = this.#variants.get(key);
    if (variant === undefined) return undefined;
    if (!sameIdentity(variant.identity, identity)) {
      this.#evict(variant);
      return undefined;
    }
    this.#variants.delete(key);
    this.#variants.set(key, variant);
    variant.pins++;
    let released = false;
    return {
      fd: variant.fd,
      size: variant.size,
      encoding,
      release: () => {
        if (released) return;
        released = true;
        variant.pins--;
        if (variant.evicted && variant.pins === 0) this.#closeFd(variant.fd);
      },
    };
  }

  /** Whether build() would start now for this file and encoding. */
  wouldBuild(path: string, identity: FileIdentity, encoding: Encoding, size: number): boolean {
    const key = variantKey(path, encoding);
    if (this.#closed || this.#building.has(key) || this.#building.size >= this.limits.buildsInFlight) return false;
    if (size > this.limits.maxBytes || this.limits.maxEntries === 0) return false;
    const refused = this.#notSmaller.get(key);
    return refused === undefined || !sameIdentity(refused, identity);
  }

  /**
   * Computes the variant of `source` (the bytes of `path` at `identity`) off the event loop
   * and keeps it; resolves when it is kept or given up (no smaller, over budget, an error).
   */
  build(path: string, identity: FileIdentity, encoding: Encoding, source: Buffer): Promise<void> {
    if (!this.wouldBuild(path, identity, encoding, source.length)) return Promise.resolve();
    const key = variantKey(path, encoding);
    const built = this.#build(key, identity, encoding, source).finally(() => this.#building.delete(key));
    this.#building.set(key, built);
    return built;
  }

  async #build(key: string, identity: FileIdentity, encoding: Encoding, source: Buffer): Promise<void> {
    let fd = -1;
    try {
      const compressed = await compressors[encoding](source, zlibOptions(encoding, source.length));
      if (compressed.length >= source.length) {
        if (this.#notSmaller.size >= this.limits.maxEntries) this.#notSmaller.clear();
        this.#notSmaller.set(key, identity);
        this.#notSmallerCount++;
        return;
      }
      if (this.#closed || compressed.length > this.limits.maxBytes) return;
      fd = memfdCreate(`zerocopy-${encoding}`);
      this.#open.add(fd);
      let written = 0;
      while (written < compressed.length) {
        written += (await writeAt(fd, compressed, written, compressed.length - written, written)).bytesWritten;
      }
      addSeals(fd, ['shrink', 'grow', 'write', 'seal']);
      if (this.#closed) return;
      const stale = this.#variants.get(key);
      if (stale !== undefined) this.#evict(stale);
      this.#makeRoom(compressed.length);
      this.#variants.set(key, { key, identity, encoding, fd, size: compressed.length, pins: 0, evicted: false });
      this.#bytes += compressed.length;
      this.#built++;
      fd = -1;
    } catch {
      // The request that asked was answered identity; the next one tries again.
      this.#failures++;
    } finally {
      if (fd >= 0) this.#closeFd(fd);
    }
  }

  stats(): VariantStats {
    return {
      entries: this.#variants.size,
      bytes: this.#bytes,
      building: this.#building.size,
      built: this.#built,
      notSmaller: this.#notSmallerCount,
      evictions: this.#evictions,
      failures: this.#failures,
    };
  }

  /**
   * Drops every variant (descriptors in use close when released) and discards the builds
   * under way; resolves when those have let go of their descriptors.
   */
  async close(): Promise<void> {
    this.#closed = true;
    for (const variant of [...this.#variants.values()]) this.#evict(variant);
    this.#notSmaller.clear();
    await Promise.all(this.#building.values());
    orphans.unregister(this);
  }

  #makeRoom(incoming: number): void {
    while (
      this.#variants.size > 0 &&
      (this.#variants.size + 1 > this.limits.maxEntries || this.#bytes + incoming > this.limits.maxBytes)
    ) {
      const coldest = this.#variants.values().next().value as Variant;
      this.#evict(coldest);
    }
  }

  #evict(variant: Variant): void {
    if (this.#variants.get(variant.key) !== variant) return;
    this.#variants.delete(variant.key);
    this.#bytes -= variant.size;
    this.#evictions++;
    variant.evicted = true;
    if (variant.pins === 0) this.#closeFd(variant.fd);
  }

  #closeFd(fd: number): void {
    if (!this.#open.delete(fd)) return;
    closeSync(fd);
  }
}
