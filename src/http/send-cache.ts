// sendFile's use of the small-file cache: the key a request is looked up by, the synchronous
// answer to a fresh hit, and the refill or revalidation after the uncached path has found the
// file again (every jail, dotfile and symlink decision made afresh).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

import { readExactly } from './body.js';
import {
  type CachedFile,
  cacheKey,
  type FileCache,
  identityOf,
  pathKey,
  RACY_WINDOW_MS,
  sameIdentity,
} from './file-cache.js';
import type { Encoding } from './headers.js';
import { type ChosenFile, encodingsToTry, findFile, type Lookup, type Redirect } from './locate-file.js';
import { headerBlock, representationOf } from './representation.js';
import { checkDotfiles, type DecodedPath, decodeRequestPath, type HttpFailure } from './resolve-path.js';
import type { ResolvedOptions } from './send-options.js';
import { type CacheOutcome, elapsed, type SendResult } from './send-result.js';
import { hasPreconditions } from './write-response.js';

/** Where a request's entry is, or would be, in the cache. */
export interface CacheSlot {
  key: string;
  /** What the cache holds under `key`, fresh or not. */
  entry: CachedFile | undefined;
}

/** The cache's path key of a decoded request path, or null when findFile() refuses it before any disk access. */
function pathKeyFor(decoded: DecodedPath, options: ResolvedOptions): string | null {
  return decoded.kind === 'path' && checkDotfiles(decoded.segments, options.dotfiles) === undefined
    ? pathKey(decoded.segments, decoded.trailingSlash)
    : null;
}

/** pathKeyFor() of a request-target, remembered by the cache. */
function pathKeyOf(cache: FileCache, target: string, options: ResolvedOptions): string | null {
  let path = cache.pathKeyOf(target);
  if (path === undefined) {
    path = pathKeyFor(decodeRequestPath(target), options);
    cache.rememberPathKey(target, path);
  }
  return path;
}

/**
 * The slot of `target` (a request path under options.root) for a client taking `encodings`;
 * undefined for a path findFile() would refuse before touching the disk (bad encoding, '..',
 * dotfiles), which is never cached.
 */
export function cacheSlot(
  cache: FileCache,
  target: string,
  encodings: readonly Encoding[],
  options: ResolvedOptions,
): CacheSlot | undefined {
  const path = pathKeyOf(cache, target, options);
  if (path === null) return undefined;
  const key = cacheKey(path, encodings);
  return { key, entry: cache.get(key) };
}

/**
 * After the uncached path has found and opened the file: the cached entry if the disk says it
 * is still the same file, or a new entry read from the open descriptor, or undefined when this
 * file is not to be cached (too big, changed too recently, changed while it was read).
 */
async function refill(
  cache: FileCache,
  slot: CacheSlot,
  chosen: ChosenFile,
  options: ResolvedOptions,
  checkedAt: number,
): Promise<{ entry: CachedFile; outcome: CacheOutcome } | undefined> {
  const { key, entry } = slot;
  const identity = identityOf(chosen.stat);
  const servedPath = chosen.siblingPath ?? chosen.path;
  if (
    entry !== undefined &&
    entry.path === chosen.path &&
    entry.servedPath === servedPath &&
    entry.encoding === chosen.encoding &&
    sameIdentity(entry.identity, identity)
  ) {
    // Valid from the moment this check began, not from when it ended.
    entry.validUntil = checkedAt + cache.limits.validityMs;
    return { entry, outcome: 'revalidated' };
  }
  if (entry !== undefined) cache.delete(key);
  const size = Number(identity.size);
  if (!cache.accepts(size)) return undefined;
  if (Date.now() - Number(chosen.stat.ctimeMs) < RACY_WINDOW_MS) return undefined;
  let body: Buffer;
  try {
    body = await readExactly(chosen.file, size, 0, 0);
    // The bytes belong to the validators only if nothing moved while they were read.
    if (!sameIdentity(identityOf(await chosen.file.stat({ bigint: true })), identity)) return undefined;
  } catch {
    return undefined; // the uncached path reads again and reports the failure as it always has
  }
  const representation = representationOf(chosen, options);
  const stored: CachedFile = {
    key,
    body,
    path: representation.path,
    servedPath: representation.servedPath,
    size,
    mtimeMs: representation.mtimeMs,
    encoding: representation.encoding,
    contentType: representation.contentType,
    etag: representation.etag,
    lastModified: representation.lastModified,
    identity,
    headers200: headerBlock(representation, options),
    validUntil: checkedAt + cache.limits.validityMs,
  };
  if (!cache.set(stored)) return undefined;
  return { entry: stored, outcome: 'stored' };
}

/** A file found on disk, open (the caller closes it), and what the cache made of it. */
export interface FoundFile {
  kind: 'found';
  chosen: ChosenFile;
  /** Set when the cache holds the file now: revalidated or stored from the open descriptor. */
  cached: { entry: CachedFile; outcome: CacheOutcome } | undefined;
}

/**
 * A miss or a stale entry: the file found on disk as if uncached, then the cache's entry
 * revalidated, replaced or dropped. Without a cache (or a slot), just the file.
 */
export async function findThroughCache(
  lookup: Lookup,
  options: ResolvedOptions,
  cache: FileCache | undefined,
  slot: CacheSlot | undefined,
  checkedAt: number,
  compressing?: (chosen: ChosenFile) => boolean,
): Promise<FoundFile | Redirect | HttpFailure> {
  const found = await findFile(lookup, options);
  if (found.kind !== 'found' || (slot !== undefined && compressing?.(found) === true)) {
    // A request that takes a computed variant is answered from the cache only by that
    // variant, computed from this very version of the file; never by the file as it is, so
    // that the variant, once built, is seen by the next request.
    const entry = slot?.entry;
    if (
      found.kind === 'found' &&
      cache !== undefined &&
      entry?.computed === true &&
      entry.path === found.path &&
      sameIdentity(entry.identity, identityOf(found.stat))
    ) {
      entry.validUntil = checkedAt + cache.limits.validityMs;
      return { kind: 'found', chosen: found, cached: { entry, outcome: 'revalidated' } };
    }
    if (slot !== undefined) cache?.delete(slot.key);
    return found.kind === 'found' ? { kind: 'found', chosen: found, cached: undefined } : found;
  }
  const cached =
    cache === undefined || slot === undefined ? undefined : await refill(cache, slot, found, options, checkedAt);
  return { kind: 'found', chosen: found, cached };
}

/**
 * A cache hit in the common case, as cheaply as node:http allows: the prebuilt header block
 * and the body in one res.end() (one writev of headers and body). Returns undefined, and
 * touches nothing, when the general path is needed: a Range or a condition to evaluate, a
 * setHeaders hook, or headers a middleware already set.
 */
export function answerFromMemory(
  req: IncomingMessage,
  res: ServerResponse,
  entry: CachedFile,
  options: ResolvedOptions,
  beforeWrite: (() => void) | undefined,
  startedAt: number,
): SendResult | undefined {
  if (options.setHeaders !== undefined || (options.acceptRanges && req.headers.range !== undefined)) return undefined;
  if (hasPreconditions(req) || res.getHeaderNames().length > 0) return undefined;
  beforeWrite?.();
  res.writeHead(200, entry.headers200 as string[]);
  const head = req.method === 'HEAD';
  res.end(head ? undefined : entry.body);
  const bytes = head ? 0 : entry.body.length;
  const method = head ? 'none' : 'memory';
  const durationMs = elapsed(startedAt);
  const path = entry.servedPath;
  const result: SendResult =
    entry.encoding === undefined
      ? { status: 200, handled: true, bytes, method, path, cache: 'hit', durationMs }
      : { status: 200, handled: true, bytes, method, path, encoding: entry.encoding, cache: 'hit', durationMs };
  options.onResponse?.(result, req);
  return result;
}

/**
 * A fresh cache hit answered synchronously, before any promise or closure is made: the same
 * response and the same result as respondWithFile() gives for it. Returns undefined, having
 * written nothing, for everything else (a miss, a stale entry, a method other than GET/HEAD,
 * a Range or a condition to evaluate, headers already set), which respondWithFile() then
 * answers as usual.
 */
export function answerCacheHit(
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  options: ResolvedOptions,
  cache: FileCache,
  beforeWrite?: () => void,
): SendResult | undefined {
  const method = req.method;
  if ((method !== 'GET' && method !== 'HEAD') || options.root === undefined) return undefined;
  const path = pathKeyOf(cache, target, options);
  if (path === null) return undefined;
  const startedAt = performance.now();
  const entry = cache.get(cacheKey(path, encodingsToTry(req.headers['accept-encoding'], options)));
  if (entry === undefined || startedAt >= entry.validUntil) return undefined;
  return answerFromMemory(req, res, entry, options, beforeWrite, startedAt);
}
