// What a front that answers plain GETs itself (the native front of `zerocopy serve`) is given
// for a request-target: the file cache's entry, or the open file too large to cache with the
// head of its 200. Built on the same cache slot and file lookup as sendFile's requests, so the
// front answers exactly what node:http would.
import type { FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { cacheVariant, compressionFor, variantFor, variantRepresentation } from './compressed-variant.js';
import { type CachedFile, type FileCache, type FileIdentity, identityOf, RACY_WINDOW_MS } from './file-cache.js';
import type { Encoding } from './headers.js';
import { type ChosenFile, closeQuietly, encodingsToTry } from './locate-file.js';
import { headerBlock, representationOf } from './representation.js';
import type { Jail } from './resolve-path.js';
import { cacheSlot, findThroughCache } from './send-cache.js';
import type { ResolvedOptions } from './send-options.js';

/**
 * What a front may keep for a target: the small-file cache entry, or for a file too large to
 * cache, the open file with the head of its 200 (the caller closes it). Either may be reused
 * until `validUntil`, like a cache entry.
 */
export type FrontAnswer = (
  | { kind: 'cached'; entry: CachedFile }
  | {
      kind: 'file';
      headers: readonly string[];
      file: FileHandle;
      size: number;
      validUntil: number;
      /** The precompressed sibling's encoding, when the file is one. */
      encoding: Encoding | undefined;
    }
  | {
      /** A computed variant: a sealed memfd, open until release() (the caller calls it once done with `fd`). */
      kind: 'variant';
      headers: readonly string[];
      fd: number;
      size: number;
      validUntil: number;
      encoding: Encoding;
      release(): void;
    }
) & {
  /**
   * The same for every request-target and Accept-Encoding that lead to this answer (the file
   * asked for, the file served and its identity on disk): a front keeps one answer, and one
   * descriptor, per value, and a file changed on disk gets a new one.
   */
  fileKey: string;
};

/** FrontAnswer's fileKey: the file asked for (its name gives Content-Type), the file read and its identity. */
function fileKeyOf(path: string, servedPath: string, identity: FileIdentity): string {
  const { dev, ino, size, mtimeNs, ctimeNs } = identity;
  return `${path}\0${servedPath}\0${dev}:${ino}:${size}:${mtimeNs}:${ctimeNs}`;
}

/** A computed variant's key says its encoding: its path and its file are the file's own. */
const fileKeyOfEntry = (entry: CachedFile) =>
  fileKeyOf(
    entry.path,
    entry.computed === true ? `${entry.path}\0${entry.encoding}` : entry.servedPath,
    entry.identity,
  );

/**
 * The answer sendFile gives a GET of `target` with no Range and no condition, looked up,
 * filled or revalidated exactly as there, in a form a front can keep (see FrontAnswer);
 * undefined when it is not a 200 of a file (not found, a directory, a redirect), the file
 * changed too recently to be trusted for a while, or a setHeaders hook is set. An entry with
 * less than `minRemainingMs` of validity left is revalidated now, so that the caller gets an
 * answer it can keep for a while.
 */
export async function frontAnswerFor(
  target: string,
  acceptEncoding: string | undefined,
  options: ResolvedOptions,
  files: { jail: Jail | undefined; cache: FileCache },
  minRemainingMs = 0,
): Promise<FrontAnswer | undefined> {
  const { cache, jail } = files;
  if (options.root === undefined || options.setHeaders !== undefined) return undefined;
  const startedAt = performance.now();
  const encodings = encodingsToTry(acceptEncoding, options);
  const slot = cacheSlot(cache, target, encodings, options);
  if (slot === undefined) return undefined;
  const { entry } = slot;
  if (entry !== undefined && startedAt + minRemainingMs < entry.validUntil)
    return { kind: 'cached', entry, fileKey: fileKeyOfEntry(entry) };
  const compressing = (chosen: ChosenFile) => compressionFor(chosen, acceptEncoding, options).length > 0;
  const found = await findThroughCache(
    { target, encodings, jail, redirectTarget: target },
    options,
    cache,
    slot,
    startedAt,
    compressing,
  );
  if (found.kind !== 'found') return undefined;
  const { chosen, cached } = found;
  let handedOut = false;
  try {
    const wanted = compressionFor(chosen, acceptEncoding, options);
    if (wanted.length > 0 && options.variants !== undefined && cached === undefined) {
      // Until the variant is built, node:http answers (as it is) for a while.
      const variant = await variantFor(chosen, wanted, options.variants);
      if (variant === undefined) return undefined;
      let kept: CachedFile | undefined;
      try {
        kept = cacheVariant(cache, slot.key, chosen, variant, wanted[0]!, options, startedAt);
      } catch {
        kept = undefined; // sent from the memfd instead
      }
      if (kept !== undefined) {
        variant.release();
        return { kind: 'cached', entry: kept, fileKey: fileKeyOfEntry(kept) };
      }
      return {
        kind: 'variant',
        headers: headerBlock(variantRepresentation(chosen, variant, options), options),
        fd: variant.fd,
        size: variant.size,
        validUntil: startedAt + cache.limits.validityMs,
        encoding: variant.encoding,
        release: variant.release,
        fileKey: fileKeyOf(chosen.path, `${chosen.path}\0${variant.encoding}`, identityOf(chosen.stat)),
      };
    }
    if (cached !== undefined) return { kind: 'cached', entry: cached.entry, fileKey: fileKeyOfEntry(cached.entry) };
    const size = Number(chosen.stat.size);
    if (cache.accepts(size) || Date.now() - Number(chosen.stat.ctimeMs) < RACY_WINDOW_MS) return undefined;
    handedOut = true;
    return {
      kind: 'file',
      headers: headerBlock(representationOf(chosen, options), options),
      file: chosen.file,
      size,
      validUntil: startedAt + cache.limits.validityMs,
      encoding: chosen.encoding,
      fileKey: fileKeyOf(chosen.path, chosen.siblingPath ?? chosen.path, identityOf(chosen.stat)),
    };
  } finally {
    if (!handedOut) await closeQuietly(chosen.file);
  }
}
