// sendFile's use of the compressed variants: whether a request and the file it found call for
// one, the variant when it is ready (otherwise its build starts and the file is sent as it
// is), and what the headers of a variant are made of.

import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';

import { readExactly, SMALL_BODY_BYTES } from './body.js';
import {
  COMPRESS_MAX_SOURCE_BYTES,
  COMPRESS_MIN_BYTES,
  COMPRESSED_ENCODINGS,
  isCompressibleType,
} from './compress-policy.js';
import { type CachedFile, type FileCache, identityOf, RACY_WINDOW_MS, sameIdentity } from './file-cache.js';
import { acceptableEncodings, contentTypeFor, type Encoding } from './headers.js';
import type { ChosenFile } from './locate-file.js';
import { headerBlock, type Representation, representationOf } from './representation.js';
import type { ResolvedOptions } from './send-options.js';
import type { PinnedVariant, VariantStore } from './variant-store.js';

const NONE: readonly Encoding[] = [];

/**
 * The computed encodings this request takes for the file it found, best first: none when
 * compression is off, a sibling was found (siblings win), the type is not text, or the file
 * is too small or too large to be worth it.
 */
export function compressionFor(
  chosen: ChosenFile,
  acceptEncoding: string | undefined,
  options: ResolvedOptions,
): readonly Encoding[] {
  if (options.variants === undefined || chosen.encoding !== undefined) return NONE;
  const size = Number(chosen.stat.size);
  if (size < COMPRESS_MIN_BYTES || size > COMPRESS_MAX_SOURCE_BYTES) return NONE;
  if (!isCompressibleType(contentTypeFor(chosen.path))) return NONE;
  return acceptableEncodings(acceptEncoding, COMPRESSED_ENCODINGS);
}

/**
 * The best ready variant among `encodings`, pinned; when the best one is not ready, its
 * build starts (from `body` when the caller has the file's bytes, else read from the open
 * file now) and a lesser ready one, or undefined (send the file as it is), is returned.
 * A file changed too recently is never compressed: its identity cannot yet be trusted to
 * change with its bytes (the file cache's rule).
 */
export async function variantFor(
  chosen: ChosenFile,
  encodings: readonly Encoding[],
  store: VariantStore,
  body?: Buffer,
): Promise<PinnedVariant | undefined> {
  const identity = identityOf(chosen.stat);
  const best = encodings[0];
  if (best === undefined) return undefined;
  const ready = store.take(chosen.path, identity, best);
  if (ready !== undefined) return ready;
  const size = Number(chosen.stat.size);
  if (
    Date.now() - Number(chosen.stat.ctimeMs) >= RACY_WINDOW_MS &&
    store.wouldBuild(chosen.path, identity, best, size)
  ) {
    const source = body ?? (await readSource(chosen, size));
    // Not awaited: this request is answered as it is, the next ones from the variant.
    if (source !== undefined) void store.build(chosen.path, identity, best, source);
  }
  for (const encoding of encodings.slice(1)) {
    const lesser = store.take(chosen.path, identity, encoding);
    if (lesser !== undefined) return lesser;
  }
  return undefined;
}

/** The open file's bytes, if nothing moved while they were read. */
async function readSource(chosen: ChosenFile, size: number): Promise<Buffer | undefined> {
  try {
    const bytes = await readExactly(chosen.file, size, 0, 0);
    return sameIdentity(identityOf(await chosen.file.stat({ bigint: true })), identityOf(chosen.stat))
      ? bytes
      : undefined;
  } catch {
    return undefined; // the response reads the file again and reports what fails
  }
}

/** The file's representation, encoded: its own size, Content-Encoding, and an ETag of its own. */
export function variantRepresentation(
  chosen: ChosenFile,
  variant: PinnedVariant,
  options: ResolvedOptions,
): Representation {
  const plain = representationOf(chosen, options);
  return {
    ...plain,
    size: variant.size,
    encoding: variant.encoding,
    etag: plain.etag === undefined ? undefined : encodedEtag(plain.etag, variant.encoding),
  };
}

const ETAG_SUFFIX: Record<Encoding, string> = { br: '-br', gzip: '-gz' };

/** `"abc"` -> `"abc-br"`: a strong validator must differ between encodings of one file (RFC 9110 §8.8.3). */
export function encodedEtag(etag: string, encoding: Encoding): string {
  return etag.endsWith('"') ? `${etag.slice(0, -1)}${ETAG_SUFFIX[encoding]}"` : etag;
}

/**
 * A descriptor of the variant's own for one response: a new open file description of the
 * sealed memfd, so that the variant being evicted meanwhile can close nothing under it.
 */
export function openVariant(variant: PinnedVariant): Promise<FileHandle> {
  return open(`/proc/self/fd/${variant.fd}`, 'r');
}

/** The `size` bytes of a memfd: memory, so the read never waits for a disk. */
export function readWhole(fd: number, size: number): Buffer {
  const bytes = Buffer.allocUnsafe(size);
  for (let done = 0; done < size; ) {
    const read = readSync(fd, bytes, done, size - done, done);
    if (read === 0) throw new Error('a sealed memfd came up short');
    done += read;
  }
  return bytes;
}

/**
 * Keeps the best variant for a cache slot in the file cache too, when it is small enough to
 * be written with its head rather than by sendfile (64 KiB, sendFile's crossover), so that
 * the next requests with the same encodings are hits answered from memory (and the native
 * front gets it as any small cached file). Only the best encoding is kept: a lesser one sent while the best is
 * being built must not stick. Returns the entry, or undefined when it is not kept.
 */
export function cacheVariant(
  cache: FileCache,
  key: string,
  chosen: ChosenFile,
  variant: PinnedVariant,
  best: Encoding,
  options: ResolvedOptions,
  checkedAt: number,
): CachedFile | undefined {
  // A larger variant leaves by sendfile from its memfd anyway: a copy in memory would only cost.
  if (variant.encoding !== best || variant.size > SMALL_BODY_BYTES || !cache.accepts(variant.size)) return undefined;
  const rep = variantRepresentation(chosen, variant, options);
  const entry: CachedFile = {
    key,
    body: readWhole(variant.fd, variant.size),
    path: rep.path,
    servedPath: rep.servedPath,
    size: rep.size,
    mtimeMs: rep.mtimeMs,
    encoding: variant.encoding,
    contentType: rep.contentType,
    etag: rep.etag,
    lastModified: rep.lastModified,
    identity: identityOf(chosen.stat),
    headers200: headerBlock(rep, options),
    validUntil: checkedAt + cache.limits.validityMs,
    computed: true,
  };
  return cache.set(entry) ? entry : undefined;
}
