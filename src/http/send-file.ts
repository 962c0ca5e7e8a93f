// sendFile: one file as an HTTP response on node:http, with the semantics of RFC 9110.
import type { BigIntStats } from 'node:fs';
import { type FileHandle, realpath } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isAbsolute, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

import { type BodyError, type BodyReport, readExactly, writeBody } from './body.js';
import { evaluatePreconditions, rangeStillValid, strongEtag } from './conditional.js';
import {
  type CachedFile,
  cacheKey,
  type FileCache,
  identityOf,
  pathKey,
  RACY_WINDOW_MS,
  sameIdentity,
} from './file-cache.js';
import {
  acceptableEncodings,
  appendVary,
  cacheControlValue,
  contentTypeFor,
  ENCODING_SUFFIX,
  type Encoding,
  errorHeaders,
  FIELDS_NOT_IN_304,
  maxAgeSeconds,
} from './headers.js';
import { planMultipart } from './multipart.js';
import { contentRange, DEFAULT_RANGE_LIMITS, decideRange, unsatisfiedContentRange } from './range.js';
import {
  checkDotfiles,
  type DecodedPath,
  type DotfilesPolicy,
  decodeRequestPath,
  type HttpFailure,
  type Jail,
  joinInRoot,
  type Opened,
  openForServing,
} from './resolve-path.js';

/** What setHeaders sees about the file being sent. */
export interface FileInfo {
  /** The file on disk (the .br/.gz sibling when one is sent). */
  path: string;
  size: number;
  mtime: Date;
  /** Set when a precompressed sibling is sent. */
  encoding?: Encoding;
}

export interface SendFileOptions {
  /** Serve `path` as a URL path under this directory (decoded, jailed). Without it, `path` is an absolute file path. */
  root?: string;
  /** Files tried for a directory request ending in '/'. Default ['index.html']; false for none. */
  index?: string | readonly string[] | false;
  /** Paths with a segment starting with '.': 'ignore' (404, default), 'deny' (403) or 'allow'. */
  dotfiles?: DotfilesPolicy;
  /** Extensions tried when the file is not found, e.g. ['html'] serves /about from about.html. */
  extensions?: readonly string[] | false;
  /** Strong ETag from device, inode, size and mtime. Default true. */
  etag?: boolean;
  /** Last-Modified from mtime. Default true. */
  lastModified?: boolean;
  /** Cache-Control max-age: milliseconds, or a string such as '1h', '7d'. Default 0. */
  maxAge?: number | string;
  /** Add `immutable` to Cache-Control. Default false. */
  immutable?: boolean;
  /** Send Cache-Control at all. Default true. */
  cacheControl?: boolean;
  /** Honour Range and say Accept-Ranges: bytes. Default true. */
  acceptRanges?: boolean;
  /** Most ranges answered as multipart; more and the whole file is sent. Default 32. */
  maxRanges?: number;
  /** Redirect a directory without a trailing slash to the slash form (301). Default true. */
  redirect?: boolean;
  /** Serve `name.br` / `name.gz` when Accept-Encoding allows. true = ['br', 'gzip']. Default false. */
  precompressed?: boolean | readonly Encoding[];
  /** Follow symlinks whose target is outside the root. Default false (403). */
  allowSymlinksOutsideRoot?: boolean;
  /** Last word on headers before the status is decided (ETag and Last-Modified set here are honoured). */
  setHeaders?: (res: ServerResponse, path: string, file: FileInfo) => void;
  /** Called once per request with what happened (status, bytes, transfer method): access logs and counters. */
  onResponse?: (result: SendResult, req: IncomingMessage) => void;
}

export interface SendResult {
  status: number;
  /** False when nothing was written and the request was passed on (fallthrough). */
  handled: boolean;
  /** Body bytes that left. */
  bytes: number;
  /** How the body left ('write', 'copy', 'sendfile', 'memory' from the file cache, ...), or 'none' without a body. */
  method: string;
  /**
   * What the small-file cache did: 'hit' (answered from memory, no file system call),
   * 'revalidated' (the entry's validity had run out; the disk said it is still the same file),
   * 'stored' (read from disk and kept). Absent when the cache was not involved.
   */
  cache?: CacheOutcome;
  fallback?: BodyReport['fallback'];
  /** The file that was sent. */
  path?: string;
  encoding?: Encoding;
  /** Why an error status was chosen (for logs; never sent to the client). */
  reason?: string;
  /** The body failed part-way; the connection was destroyed. */
  error?: BodyError;
  durationMs: number;
}

export type CacheOutcome = 'hit' | 'revalidated' | 'stored';

/** Options after defaults; computed once per handler. */
export interface ResolvedOptions {
  root: string | undefined;
  index: readonly string[];
  dotfiles: DotfilesPolicy;
  extensions: readonly string[];
  etag: boolean;
  lastModified: boolean;
  cacheControl: string | undefined;
  acceptRanges: boolean;
  maxRanges: number;
  redirect: boolean;
  precompressed: readonly Encoding[];
  allowSymlinksOutsideRoot: boolean;
  setHeaders: SendFileOptions['setHeaders'];
  onResponse: SendFileOptions['onResponse'];
}

export function resolveOptions(options: SendFileOptions = {}): ResolvedOptions {
  const index = options.index === false ? [] : typeof options.index === 'string' ? [options.index] : options.index;
  const dotfiles = options.dotfiles ?? 'ignore';
  if (!['ignore', 'deny', 'allow'].includes(dotfiles)) {
    throw new TypeError(`dotfiles must be 'ignore', 'deny' or 'allow', not '${String(dotfiles)}'`);
  }
  const precompressed =
    options.precompressed === true
      ? (['br', 'gzip'] as const)
      : options.precompressed === false
        ? []
        : options.precompressed;
  const maxRanges = options.maxRanges ?? DEFAULT_RANGE_LIMITS.maxRanges;
  if (!Number.isInteger(maxRanges) || maxRanges < 1) throw new RangeError('maxRanges must be a positive integer');
  return {
    root: options.root === undefined ? undefined : resolve(options.root),
    index: index ?? ['index.html'],
    dotfiles,
    extensions: (options.extensions || []).map((ext) => ext.replace(/^\./, '')),
    etag: options.etag ?? true,
    lastModified: options.lastModified ?? true,
    cacheControl:
      options.cacheControl === false
        ? undefined
        : cacheControlValue(maxAgeSeconds(options.maxAge), options.immutable ?? false),
    acceptRanges: options.acceptRanges ?? true,
    maxRanges,
    redirect: options.redirect ?? true,
    precompressed: precompressed ?? [],
    allowSymlinksOutsideRoot: options.allowSymlinksOutsideRoot ?? false,
    setHeaders: options.setHeaders,
    onResponse: options.onResponse,
  };
}

/** The jail for `root`: its realpath, so that a root reached through a symlink still contains its own files. */
export async function jailFor(root: string, allowSymlinksOutside: boolean): Promise<Jail> {
  try {
    return { realRoot: await realpath(resolve(root)), allowSymlinksOutside };
  } catch {
    // A missing root: every lookup under it will be a 404 anyway.
    return { realRoot: resolve(root), allowSymlinksOutside };
  }
}

/** How a caller (serveStatic, an adapter) wants failures handled. */
export interface Control {
  /** 404 and 405 are not answered but passed on: the result has handled: false. */
  fallthrough: boolean;
  /** realpath of the root, when serving under one. */
  jail: Jail | undefined;
  /**
   * The URL the client sent, for the Location of a directory redirect, when it differs from
   * the path being resolved (Express strips its mount point from req.url; originalUrl keeps it).
   */
  redirectTarget?: string;
  /** Called once, right before the first byte is written (Fastify's reply.hijack()). */
  beforeWrite?: () => void;
  /** Small files kept in memory (serveStatic under a root only). */
  cache?: FileCache | undefined;
}

type Found = { kind: 'found'; file: FileHandle; path: string; stat: BigIntStats; encoding?: Encoding };
type Chosen = Found & { siblingPath: string | undefined };

/** What the headers of a 200/206/304 are made of, whether the body is on disk or in memory. */
interface Representation {
  /** The file asked for (its name gives Content-Type). */
  path: string;
  /** The file whose bytes are sent (the .br/.gz sibling when `encoding` is set). */
  servedPath: string;
  size: number;
  mtimeMs: number;
  encoding: Encoding | undefined;
  contentType: string;
  /** undefined when the option is off. */
  etag: string | undefined;
  lastModified: string | undefined;
}

const NO_ENCODINGS: readonly Encoding[] = [];

function representationOf(chosen: Chosen, options: ResolvedOptions): Representation {
  const mtimeMs = Number(chosen.stat.mtimeMs);
  return {
    path: chosen.path,
    servedPath: chosen.siblingPath ?? chosen.path,
    size: Number(chosen.stat.size),
    mtimeMs,
    encoding: chosen.encoding,
    contentType: contentTypeFor(chosen.path),
    etag: options.etag ? strongEtag(chosen.stat) : undefined,
    lastModified: options.lastModified ? new Date(mtimeMs).toUTCString() : undefined,
  };
}
type Redirect = { kind: 'redirect'; location: string };

const ALLOW = 'GET, HEAD';

function elapsed(startedAt: number): number {
  return Math.round((performance.now() - startedAt) * 1000) / 1000;
}

/** `Location` for a directory redirect: never protocol-relative (`//evil.example/`), always percent-encoded. */
function directoryLocation(target: string): string {
  const queryAt = target.indexOf('?');
  const query = queryAt === -1 ? '' : target.slice(queryAt);
  const pathname = (queryAt === -1 ? target : target.slice(0, queryAt)).replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  const path = `/${pathname.replace(/^\/+/, '')}/`;
  const safe = (text: string) => text.replace(/[^\w\-.~!$&'()*+,;=:@/%?]/g, (c) => encodeURIComponent(c));
  return safe(path) + safe(query);
}

async function closeQuietly(file: FileHandle): Promise<void> {
  await file.close().catch(() => undefined);
}

/** Finds the file a request names: jail, dotfiles, directory index, extensions, redirect. */
async function locate(
  target: string,
  options: ResolvedOptions,
  control: Control,
  requestTarget: string,
  predecoded?: DecodedPath,
): Promise<Found | Redirect | HttpFailure> {
  let candidate: string;
  let trailingSlash: boolean;
  if (options.root !== undefined) {
    const decoded = predecoded ?? decodeRequestPath(target);
    if (decoded.kind === 'error') return decoded;
    const hidden = checkDotfiles(decoded.segments, options.dotfiles);
    if (hidden !== undefined) return hidden;
    candidate = joinInRoot(options.root, decoded.segments);
    trailingSlash = decoded.trailingSlash;
  } else {
    if (!isAbsolute(target)) return { kind: 'error', status: 404, reason: 'sendFile needs an absolute path or a root' };
    if (target.includes('\0')) return { kind: 'error', status: 400, reason: 'NUL byte in path' };
    const segments = target.split('/').filter((s) => s !== '');
    if (segments.includes('..')) return { kind: 'error', status: 403, reason: 'path goes up' };
    const hidden = checkDotfiles(segments, options.dotfiles);
    if (hidden !== undefined) return hidden;
    candidate = target;
    trailingSlash = target.endsWith('/');
  }

  let opened: Opened = await openForServing(candidate, control.jail);
  if (opened.kind === 'error' && opened.status === 404 && !trailingSlash) {
    // Extensions are tried only for names that were not found (send's order).
    for (const extension of options.extensions) {
      const next = await openForServing(`${candidate}.${extension}`, control.jail);
      if (next.kind === 'file') {
        opened = next;
        break;
      }
      if (next.kind === 'directory') continue;
    }
  }
  if (opened.kind === 'error') return opened;
  if (opened.kind === 'file') {
    if (trailingSlash) {
      await closeQuietly(opened.file);
      return { kind: 'error', status: 404, reason: 'a file asked for as a directory' };
    }
    return { kind: 'found', file: opened.file, path: opened.path, stat: opened.stat };
  }
  // A directory.
  if (!trailingSlash) {
    if (options.redirect && options.root !== undefined) {
      return { kind: 'redirect', location: directoryLocation(requestTarget) };
    }
    return { kind: 'error', status: 404, reason: 'directory' };
  }
  for (const name of options.index) {
    const indexed = await openForServing(join(opened.path, name), control.jail);
    if (indexed.kind === 'file') return { kind: 'found', file: indexed.file, path: indexed.path, stat: indexed.stat };
  }
  return { kind: 'error', status: 404, reason: 'directory without an index file' };
}

/** Swaps `found` for its .br/.gz sibling when the client takes that encoding and the sibling exists. */
async function pickEncoding(found: Found, encodings: readonly Encoding[], control: Control): Promise<Chosen> {
  for (const encoding of encodings) {
    const sibling = await openForServing(found.path + ENCODING_SUFFIX[encoding], control.jail);
    if (sibling.kind === 'file') {
      await closeQuietly(found.file);
      return {
        ...found,
        file: sibling.file,
        stat: sibling.stat,
        encoding,
        path: found.path,
        siblingPath: sibling.path,
      };
    }
  }
  return { ...found, siblingPath: undefined };
}

function writeError(res: ServerResponse, req: IncomingMessage, status: number, extra: Record<string, string> = {}) {
  const messages: Record<number, string> = {
    400: 'Bad Request',
    403: 'Forbidden',
    404: 'Not Found',
    405: 'Method Not Allowed',
    412: 'Precondition Failed',
    416: 'Range Not Satisfiable',
    503: 'Service Unavailable',
  };
  const body = Buffer.from(`${messages[status] ?? 'Error'}\n`);
  for (const name of [
    'Content-Encoding',
    'Content-Range',
    'Content-Disposition',
    'Accept-Ranges',
    'ETag',
    'Last-Modified',
  ]) {
    res.removeHeader(name);
  }
  res.writeHead(status, { ...errorHeaders(body.length), ...extra });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The cache's path key of a decoded request path, or null when locate() refuses it before any disk access. */
function pathKeyFor(decoded: DecodedPath, options: ResolvedOptions): string | null {
  return decoded.kind === 'path' && checkDotfiles(decoded.segments, options.dotfiles) === undefined
    ? pathKey(decoded.segments, decoded.trailingSlash)
    : null;
}

/** The encodings the client takes among those served, best first. */
function encodingsFor(req: IncomingMessage, options: ResolvedOptions): readonly Encoding[] {
  return options.precompressed.length === 0
    ? NO_ENCODINGS
    : acceptableEncodings(req.headers['accept-encoding'], options.precompressed);
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
  let path = cache.pathKeyOf(target);
  if (path === undefined) {
    path = pathKeyFor(decodeRequestPath(target), options);
    cache.rememberPathKey(target, path);
  }
  if (path === null) return undefined;
  const startedAt = performance.now();
  const entry = cache.get(cacheKey(path, encodingsFor(req, options)));
  if (entry === undefined || startedAt >= entry.validUntil) return undefined;
  return answerFromMemory(req, res, entry, options, beforeWrite, startedAt);
}

/**
 * The whole request: used by sendFile() and serveStatic(). Never rejects for anything a
 * client can send: bad requests become 400/403/404, body failures destroy the connection
 * and are reported in `error`.
 */
export async function respondWithFile(
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  options: ResolvedOptions,
  control: Control,
): Promise<SendResult> {
  const startedAt = performance.now();
  const finish = (result: Omit<SendResult, 'durationMs'>): SendResult => {
    const complete = { ...result, durationMs: elapsed(startedAt) };
    if (complete.handled) options.onResponse?.(complete, req);
    return complete;
  };
  const fail = (status: number, reason: string, extra?: Record<string, string>): SendResult => {
    if (control.fallthrough && (status === 404 || status === 405)) {
      return finish({ status, handled: false, bytes: 0, method: 'none', reason });
    }
    if (res.headersSent) {
      res.destroy();
    } else {
      control.beforeWrite?.();
      writeError(res, req, status, extra);
    }
    return finish({ status, handled: true, bytes: 0, method: 'none', reason });
  };

  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') return fail(405, `method ${method}`, { Allow: ALLOW });

  // The small-file cache: looked up by the path exactly as locate() decodes it. Only requests
  // that locate() would not refuse before touching the disk (bad encoding, '..', dotfiles) get a key.
  const cache = options.root === undefined ? undefined : control.cache;
  let decoded: DecodedPath | undefined;
  let encodings: readonly Encoding[] | undefined;
  let key: string | undefined;
  let entry: CachedFile | undefined;
  if (cache !== undefined) {
    let path = cache.pathKeyOf(target);
    if (path === undefined) {
      decoded = decodeRequestPath(target);
      path = pathKeyFor(decoded, options);
      cache.rememberPathKey(target, path);
    }
    if (path !== null) {
      encodings = encodingsFor(req, options);
      key = cacheKey(path, encodings);
      entry = cache.get(key);
      if (entry !== undefined && startedAt < entry.validUntil) {
        return (
          answerFromMemory(req, res, entry, options, control.beforeWrite, startedAt) ??
          respondWithRepresentation(req, res, entry, entry.body, options, control, finish, fail, 'hit')
        );
      }
    }
  }

  const located = await locate(target, options, control, control.redirectTarget ?? target, decoded);
  if (located.kind !== 'found' && key !== undefined) cache?.delete(key);
  if (located.kind === 'error') return fail(located.status, located.reason);
  if (located.kind === 'redirect') {
    control.beforeWrite?.();
    const body = Buffer.from(`Redirecting to ${located.location}\n`);
    res.writeHead(301, { ...errorHeaders(body.length), Location: located.location });
    res.end(method === 'HEAD' ? undefined : body);
    return finish({ status: 301, handled: true, bytes: 0, method: 'none', reason: 'directory' });
  }

  encodings ??= encodingsFor(req, options);
  const chosen: Chosen =
    encodings.length > 0 ? await pickEncoding(located, encodings, control) : { ...located, siblingPath: undefined };
  try {
    if (cache !== undefined && key !== undefined) {
      const cached = await fromCache(cache, key, entry, chosen, options, startedAt);
      if (cached !== undefined) {
        return respondWithRepresentation(
          req,
          res,
          cached.entry,
          cached.entry.body,
          options,
          control,
          finish,
          fail,
          cached.outcome,
        );
      }
    }
    return await respondWithRepresentation(
      req,
      res,
      representationOf(chosen, options),
      chosen.file,
      options,
      control,
      finish,
      fail,
    );
  } finally {
    // Only now: the body path may still hold the descriptor until writeBody settles.
    await closeQuietly(chosen.file);
  }
}

/**
 * What a front that answers plain GETs itself (the native front of `zerocopy serve`) may
 * keep for a target: the small-file cache entry, or for a file too large to cache, the open
 * file with the head of its 200 (the caller closes it). Either may be reused until
 * `validUntil`, like a cache entry.
 */
export type FrontAnswer =
  | { kind: 'cached'; entry: CachedFile }
  | {
      kind: 'file';
      headers: readonly string[];
      file: FileHandle;
      size: number;
      validUntil: number;
      /** The precompressed sibling's encoding, when the file is one. */
      encoding: Encoding | undefined;
    };

/**
 * The answer respondWithFile() gives a GET of `target` with no Range and no condition, looked
 * up, filled or revalidated exactly as there, in a form a front can keep (see FrontAnswer);
 * undefined when it is not a 200 of a file (not found, a directory, a redirect), the file
 * changed too recently to be trusted for a while, or a setHeaders hook is set. An entry with
 * less than `minRemainingMs` of validity left is revalidated now, so that the caller gets an
 * answer it can keep for a while.
 */
export async function frontAnswerFor(
  target: string,
  acceptEncoding: string | undefined,
  options: ResolvedOptions,
  control: Control & { cache: FileCache },
  minRemainingMs = 0,
): Promise<FrontAnswer | undefined> {
  const { cache } = control;
  if (options.root === undefined || options.setHeaders !== undefined) return undefined;
  const startedAt = performance.now();
  let path = cache.pathKeyOf(target);
  if (path === undefined) {
    path = pathKeyFor(decodeRequestPath(target), options);
    cache.rememberPathKey(target, path);
  }
  if (path === null) return undefined;
  const encodings =
    options.precompressed.length === 0 ? NO_ENCODINGS : acceptableEncodings(acceptEncoding, options.precompressed);
  const key = cacheKey(path, encodings);
  const entry = cache.get(key);
  if (entry !== undefined && startedAt + minRemainingMs < entry.validUntil) return { kind: 'cached', entry };
  const located = await locate(target, options, control, target);
  if (located.kind !== 'found') {
    cache.delete(key);
    return undefined;
  }
  const chosen: Chosen =
    encodings.length > 0 ? await pickEncoding(located, encodings, control) : { ...located, siblingPath: undefined };
  let handedOut = false;
  try {
    const cached = await fromCache(cache, key, entry, chosen, options, startedAt);
    if (cached !== undefined) return { kind: 'cached', entry: cached.entry };
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
    };
  } finally {
    if (!handedOut) await closeQuietly(chosen.file);
  }
}

/**
 * After the uncached path has found and opened the file (every jail, dotfile and symlink
 * decision made afresh): the cached entry if the disk says it is still the same file, or a new
 * entry read from the open descriptor, or undefined when this file is not to be cached (too
 * big, changed too recently, changed while it was read).
 */
async function fromCache(
  cache: FileCache,
  key: string,
  entry: CachedFile | undefined,
  chosen: Chosen,
  options: ResolvedOptions,
  checkedAt: number,
): Promise<{ entry: CachedFile; outcome: CacheOutcome } | undefined> {
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

/** The header fields respondWithRepresentation() sets for a 200 on a fresh response, in its order. */
function headerBlock(rep: Representation, options: ResolvedOptions): string[] {
  const fields = ['Content-Type', rep.contentType, 'Accept-Ranges', options.acceptRanges ? 'bytes' : 'none'];
  if (options.cacheControl !== undefined) fields.push('Cache-Control', options.cacheControl);
  if (rep.lastModified !== undefined) fields.push('Last-Modified', rep.lastModified);
  if (rep.etag !== undefined) fields.push('ETag', rep.etag);
  if (rep.encoding !== undefined) fields.push('Content-Encoding', rep.encoding);
  if (options.precompressed.length > 0) fields.push('Vary', 'Accept-Encoding');
  fields.push('Content-Length', String(rep.size));
  return fields;
}

/**
 * A cache hit in the common case, as cheaply as node:http allows: the prebuilt header block
 * and the body in one res.end() (one writev of headers and body). Returns undefined, and
 * touches nothing, when the general path is needed: a Range or a condition to evaluate, a
 * setHeaders hook, or headers a middleware already set.
 */
function answerFromMemory(
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

/** A condition header is present: only then are the preconditions worth evaluating. */
function hasPreconditions(req: IncomingMessage): boolean {
  const h = req.headers;
  return (
    h['if-match'] !== undefined ||
    h['if-none-match'] !== undefined ||
    h['if-modified-since'] !== undefined ||
    h['if-unmodified-since'] !== undefined
  );
}

/** The answer for a found file: 200, 206, 304, 412 or 416; the body from the open file or from memory. */
async function respondWithRepresentation(
  req: IncomingMessage,
  res: ServerResponse,
  rep: Representation,
  source: FileHandle | Buffer,
  options: ResolvedOptions,
  control: Control,
  finish: (result: Omit<SendResult, 'durationMs'>) => SendResult,
  fail: (status: number, reason: string, extra?: Record<string, string>) => SendResult,
  cacheOutcome?: CacheOutcome,
): Promise<SendResult> {
  const { size, encoding, servedPath } = rep;
  const isHead = req.method === 'HEAD';

  // Headers an earlier middleware set are kept, as send does.
  const setDefault = (name: string, value: string | number) => {
    if (!res.hasHeader(name)) res.setHeader(name, value);
  };
  setDefault('Content-Type', rep.contentType);
  if (options.acceptRanges) setDefault('Accept-Ranges', 'bytes');
  else res.setHeader('Accept-Ranges', 'none');
  if (options.cacheControl !== undefined) setDefault('Cache-Control', options.cacheControl);
  if (rep.lastModified !== undefined) setDefault('Last-Modified', rep.lastModified);
  if (rep.etag !== undefined) setDefault('ETag', rep.etag);
  if (encoding !== undefined) res.setHeader('Content-Encoding', encoding);
  if (options.precompressed.length > 0) appendVary(res, 'Accept-Encoding');
  options.setHeaders?.(res, servedPath, {
    path: servedPath,
    size,
    mtime: new Date(rep.mtimeMs),
    ...(encoding === undefined ? {} : { encoding }),
  });

  const header = (name: string) => {
    const value = res.getHeader(name);
    return value === undefined ? undefined : String(value);
  };
  const validators = { etag: header('ETag'), lastModified: header('Last-Modified') };
  const precondition = hasPreconditions(req) ? evaluatePreconditions(req.headers, validators) : 'proceed';
  const base = {
    path: servedPath,
    ...(encoding === undefined ? {} : { encoding }),
    ...(cacheOutcome === undefined ? {} : { cache: cacheOutcome }),
  };
  if (precondition === 'precondition-failed') return fail(412, 'precondition failed');
  if (precondition === 'not-modified') {
    for (const name of FIELDS_NOT_IN_304) res.removeHeader(name);
    control.beforeWrite?.();
    res.writeHead(304);
    res.end();
    return finish({ status: 304, handled: true, bytes: 0, method: 'none', ...base });
  }

  // Range handling is defined for GET only (RFC 9110 §14.2): HEAD gets the full headers.
  const rangeHeader = req.headers.range;
  const ifRange = req.headers['if-range'];
  // Two If-Range fields cannot both be honoured; the safe reading is "validator failed": send it all.
  const rangeApplies = Array.isArray(ifRange) ? false : rangeStillValid(ifRange, validators);
  const decision =
    options.acceptRanges && req.method === 'GET' && rangeHeader !== undefined && rangeApplies
      ? decideRange(rangeHeader, size, { ...DEFAULT_RANGE_LIMITS, maxRanges: options.maxRanges })
      : ({ kind: 'full', reason: 'absent' } as const);
  if (decision.kind === 'unsatisfiable') {
    return fail(416, 'range not satisfiable', { 'Content-Range': unsatisfiedContentRange(size) });
  }

  if (Buffer.isBuffer(source)) {
    // From memory: nothing can fail part-way but the socket, which Node handles.
    control.beforeWrite?.();
    if (decision.kind === 'partial' && decision.ranges.length === 1) {
      const range = decision.ranges[0]!;
      const length = range.end - range.start + 1;
      res.setHeader('Content-Range', contentRange(range, size));
      res.writeHead(206, { 'Content-Length': length });
      res.end(source.subarray(range.start, range.end + 1));
      return finish({ status: 206, handled: true, bytes: length, method: 'memory', ...base });
    }
    if (decision.kind === 'partial') {
      const plan = planMultipart(decision.ranges, size, String(res.getHeader('Content-Type')));
      if (plan.contentLength < size) {
        res.writeHead(206, { 'Content-Type': plan.contentType, 'Content-Length': plan.contentLength });
        let bytes = 0;
        for (const part of plan.parts) {
          res.write(part.head);
          res.write(source.subarray(part.range.start, part.range.end + 1));
          bytes += part.range.end - part.range.start + 1;
        }
        res.end(plan.tail);
        return finish({ status: 206, handled: true, bytes, method: 'memory', ...base });
      }
    }
    res.writeHead(200, { 'Content-Length': size });
    if (isHead) {
      res.end();
      return finish({ status: 200, handled: true, bytes: 0, method: 'none', ...base });
    }
    // Headers and body in one write.
    res.end(source);
    return finish({ status: 200, handled: true, bytes: size, method: 'memory', ...base });
  }

  const file = source;
  const controller = new AbortController();
  const abortOnClose = () => {
    if (!res.writableFinished) controller.abort(new Error('connection closed before the response finished'));
  };
  res.once('close', abortOnClose);
  control.beforeWrite?.();
  try {
    if (decision.kind === 'partial' && decision.ranges.length === 1) {
      const range = decision.ranges[0]!;
      const length = range.end - range.start + 1;
      res.setHeader('Content-Range', contentRange(range, size));
      res.writeHead(206, { 'Content-Length': length });
      const report = await writeBody(res, file, range.start, length, controller.signal);
      res.end();
      return finish({ status: 206, handled: true, ...report, ...base });
    }
    if (decision.kind === 'partial') {
      const plan = planMultipart(decision.ranges, size, String(res.getHeader('Content-Type')));
      // Exact framing known now: never answer with more bytes than the file has.
      if (plan.contentLength < size) {
        res.writeHead(206, { 'Content-Type': plan.contentType, 'Content-Length': plan.contentLength });
        if (isHead) {
          res.end();
          return finish({ status: 206, handled: true, bytes: 0, method: 'none', ...base });
        }
        let bytes = 0;
        let report: BodyReport = { bytes: 0, method: 'none' };
        // Bounded by maxRanges.
        for (const part of plan.parts) {
          res.write(part.head);
          report = await writeBody(
            res,
            file,
            part.range.start,
            part.range.end - part.range.start + 1,
            controller.signal,
          );
          bytes += report.bytes;
        }
        res.end(plan.tail);
        return finish({ status: 206, handled: true, ...report, bytes, ...base });
      }
    }
    res.writeHead(200, { 'Content-Length': size });
    if (isHead) {
      res.end();
      return finish({ status: 200, handled: true, bytes: 0, method: 'none', ...base });
    }
    const report = await writeBody(res, file, 0, size, controller.signal);
    res.end();
    return finish({ status: 200, handled: true, ...report, ...base });
  } catch (error) {
    // writeBody destroyed the connection already.
    const failure = error as BodyError;
    return finish({
      status: res.statusCode,
      handled: true,
      bytes: typeof failure.bytesTransferred === 'number' ? failure.bytesTransferred : 0,
      method: 'none',
      error: failure,
      reason: failure.message,
      ...base,
    });
  } finally {
    res.off('close', abortOnClose);
  }
}

/**
 * Sends one file. With `options.root`, `path` is a URL path (percent-encoded, as in req.url)
 * resolved inside the root; without, an absolute path on disk. Answers errors itself
 * (400, 403, 404, 405, 412, 416) and resolves with what it did; never rejects for
 * anything the client sent.
 */
export async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  options: SendFileOptions = {},
): Promise<SendResult> {
  const resolved = resolveOptions(options);
  const jail =
    resolved.root === undefined ? undefined : await jailFor(resolved.root, resolved.allowSymlinksOutsideRoot);
  return respondWithFile(req, res, path, resolved, { fallthrough: false, jail });
}
