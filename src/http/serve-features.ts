// What serveStatic does around sendFile when asked: CORS (and its preflight), redirects of
// serve.json, clean URLs and trailing slashes before the file lookup; rewrites, directory
// listings and the single-page-app fallback after it found nothing.

import { realpath } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { relative, sep } from 'node:path';
import { performance } from 'node:perf_hooks';

import picomatch from 'picomatch';

import {
  answerPreflight,
  type CorsOption,
  type CorsPolicy,
  corsPolicyOf,
  corsStaticFields,
  isPreflight,
  setCorsHeaders,
} from './cors.js';
import { DEFAULT_LISTING_LIMIT, listingHeaders, wantsJson, writeListing } from './listing.js';
import { encodeSegment } from './listing-page.js';
import { readDirectory } from './listing-read.js';
import { decodeRequestPath, isInside, joinInRoot, requestPath } from './resolve-path.js';
import { type Control, respondWithFile } from './send-file.js';
import type { ResolvedOptions } from './send-options.js';
import { elapsed, type SendResult } from './send-result.js';
import {
  encodePath,
  globMatcher,
  type HeaderRule,
  type RedirectRule,
  type RewriteRule,
  ServeRules,
} from './serve-rules.js';
import { writeError } from './write-response.js';

/** The options of serveStatic that this part reads (see ServeStaticOptions for each). */
export interface FeatureOptions {
  listing?: boolean | readonly string[];
  listingLimit?: number;
  unlisted?: readonly string[];
  single?: boolean;
  renderSingle?: boolean;
  cors?: CorsOption;
  cleanUrls?: boolean | readonly string[];
  trailingSlash?: boolean;
  rewrites?: readonly RewriteRule[];
  redirects?: readonly RedirectRule[];
  headers?: readonly HeaderRule[];
}

export interface ServeFeatures {
  listing:
    | { limit: number; allowed: (path: string) => boolean; unlisted: ((name: string) => boolean) | undefined }
    | undefined;
  single: boolean;
  renderSingle: boolean;
  cors: CorsPolicy | undefined;
  rules: ServeRules;
  /** Listings kept whole for a while (see ListingCache); undefined with the file cache off. */
  listingCache: ListingCache | undefined;
}

/**
 * Small listings kept for `validityMs`, as the file cache keeps small files: a busy directory
 * page then costs no file system call, and a change on disk is seen at most this late.
 */
export class ListingCache {
  static readonly MAX_ENTRIES = 64;
  static readonly MAX_BODY_BYTES = 1 << 20;
  readonly #entries = new Map<string, { body: Buffer; validUntil: number }>();
  constructor(readonly validityMs: number) {}

  get(key: string, now: number): Buffer | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (now < entry.validUntil) return entry.body;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, body: Buffer, now: number): void {
    this.#entries.delete(key);
    if (this.#entries.size >= ListingCache.MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { body, validUntil: now + this.validityMs });
  }
}

/** The default names a listing leaves out, as serve does. */
const DEFAULT_UNLISTED = ['.DS_Store', '.git'];

export function featuresOf(options: FeatureOptions, cacheValidityMs = 0): ServeFeatures | undefined {
  const rules = new ServeRules({
    ...(options.redirects === undefined ? {} : { redirects: options.redirects }),
    ...(options.rewrites === undefined ? {} : { rewrites: options.rewrites }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(options.cleanUrls === undefined ? {} : { cleanUrls: options.cleanUrls }),
    ...(options.trailingSlash === undefined ? {} : { trailingSlash: options.trailingSlash }),
  });
  const listingOption = options.listing ?? false;
  const limit = options.listingLimit ?? DEFAULT_LISTING_LIMIT;
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('listingLimit must be a positive integer');
  let listing: ServeFeatures['listing'];
  if (listingOption !== false) {
    const only = listingOption === true ? undefined : listingOption.map((glob) => globMatcher(glob));
    const unlistedGlobs = options.unlisted ?? DEFAULT_UNLISTED;
    const unlisted = unlistedGlobs.length === 0 ? undefined : picomatch(unlistedGlobs as string[], { dot: true });
    listing = {
      limit,
      // A list matches the directory path with or without its trailing slash.
      allowed: only === undefined ? () => true : (path) => only.some((m) => m(path) || m(path.replace(/\/$/, ''))),
      unlisted,
    };
  }
  const features: ServeFeatures = {
    listing,
    single: options.single ?? false,
    renderSingle: options.renderSingle ?? false,
    cors: corsPolicyOf(options.cors),
    rules,
    listingCache: listing !== undefined && cacheValidityMs > 0 ? new ListingCache(cacheValidityMs) : undefined,
  };
  const any =
    features.listing !== undefined ||
    features.single ||
    features.renderSingle ||
    features.cors !== undefined ||
    rules.hasPathRules ||
    rules.hasRewrites ||
    rules.hasHeaders;
  return any ? features : undefined;
}

/**
 * The fixed header fields of every file response under `root` (CORS, configured headers),
 * for ResolvedOptions.fileHeaders: the same for every request, so cached heads keep them.
 */
export function fileHeadersOf(
  features: ServeFeatures,
  root: string,
): ((path: string) => readonly string[]) | undefined {
  const cors = features.cors === undefined ? [] : corsStaticFields(features.cors);
  if (!features.rules.hasHeaders) return cors.length === 0 ? undefined : () => cors;
  return (path) => {
    const inRoot = `/${relative(root, path).split(sep).join('/')}`;
    return [...cors, ...features.rules.headersFor(inRoot)];
  };
}

/**
 * Whether a GET/HEAD of `target` needs more than the file it names (a redirect rule matches,
 * or the answer depends on the Origin): the cache's fast path and the native front must then
 * leave it to respondWithFeatures().
 */
export function interceptsRequest(features: ServeFeatures, target: string, origin: string | undefined): boolean {
  if (origin !== undefined && features.cors?.origins !== undefined) return true;
  if (!features.rules.hasPathRules) return false;
  const path = requestPath(target);
  return path !== undefined && features.rules.redirectFor(path, '') !== undefined;
}

/** `text/html` is among what the client takes (a browser navigating), as serve's SPA rewrite assumes. */
function acceptsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept;
  return accept === undefined || /text\/html|\*\/\*/.test(accept);
}

/** A path whose last segment has an extension (`/app.js`) names an asset: no SPA fallback for it. */
const looksLikeAsset = (path: string) => /\.[^/.]+$/.test(path.slice(path.lastIndexOf('/') + 1));

const queryOf = (target: string) => {
  const at = target.indexOf('?');
  return at === -1 ? '' : target.slice(at);
};

/**
 * A request served with the features on. Never rejects for anything a client can send;
 * with `fallthrough`, a 404/405 is passed on (handled: false) as respondWithFile() does.
 */
export async function respondWithFeatures(
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  options: ResolvedOptions,
  control: Control,
  features: ServeFeatures,
): Promise<SendResult> {
  const startedAt = performance.now();
  const done = (result: Omit<SendResult, 'durationMs'>): SendResult => {
    const complete = { ...result, durationMs: elapsed(startedAt) };
    if (complete.handled) options.onResponse?.(complete, req);
    return complete;
  };
  const method = req.method ?? 'GET';
  if (features.cors !== undefined) {
    if (isPreflight(req)) {
      control.beforeWrite?.();
      answerPreflight(res, features.cors, req);
      return done({ status: 204, handled: true, bytes: 0, method: 'none', reason: 'CORS preflight' });
    }
    setCorsHeaders(res, features.cors, req);
  }
  const path = requestPath(target);
  const readable = method === 'GET' || method === 'HEAD';
  if (readable && path !== undefined && features.rules.hasPathRules) {
    const redirect = features.rules.redirectFor(path, queryOf(target));
    if (redirect !== undefined) {
      control.beforeWrite?.();
      const body = Buffer.from(`Redirecting to ${redirect.location}\n`);
      res.writeHead(redirect.status, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': body.length,
        Location: redirect.location,
      });
      res.end(method === 'HEAD' ? undefined : body);
      return done({ status: redirect.status, handled: true, bytes: 0, method: 'none', reason: 'redirect' });
    }
  }

  const passing: Control = { ...control, fallthrough: true };
  let result = await respondWithFile(req, res, target, options, passing);
  if (result.handled || !readable || path === undefined) return giveUp(req, res, result, control, done);

  // With trailingSlash: false, a directory is served at its path without the slash.
  if (result.reason === 'directory' && features.rules.trailingSlash === false && !path.endsWith('/')) {
    result = await respondWithFile(req, res, `${encodePath(path)}/`, options, passing);
    if (result.handled) return result;
  }
  if (features.rules.hasRewrites) {
    const rewritten = features.rules.rewrite(path);
    if (rewritten !== undefined) {
      const again = await respondWithFile(req, res, encodePath(rewritten), options, passing);
      if (again.handled) return again;
    }
  }
  if (result.reason === 'directory without an index file' || result.reason === 'directory') {
    const listed = await answerDirectory(req, res, path, options, control, features, done);
    if (listed !== undefined) return listed;
  }
  if (features.single && acceptsHtml(req) && !looksLikeAsset(path)) {
    const spa = await respondWithFile(req, res, '/index.html', options, passing);
    if (spa.handled) return spa;
  }
  return giveUp(req, res, result, control, done);
}

/** A directory with no index file: its only file (renderSingle), or its listing, when on. */
async function answerDirectory(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  options: ResolvedOptions,
  control: Control,
  features: ServeFeatures,
  done: (result: Omit<SendResult, 'durationMs'>) => SendResult,
): Promise<SendResult | undefined> {
  if (options.root === undefined) return undefined;
  const decoded = decodeRequestPath(path);
  if (decoded.kind !== 'path') return undefined;
  const dirPath = joinInRoot(options.root, decoded.segments);
  // The lookup found a directory inside the jail a moment ago; check again where it leads now.
  const jail = control.jail;
  if (jail !== undefined && !jail.allowSymlinksOutside) {
    const real = await realpath(dirPath).catch(() => undefined);
    if (real === undefined || !isInside(jail.realRoot, real)) return undefined;
  }
  const base = `/${decoded.segments.map((s) => `${encodeSegment(Buffer.from(s))}/`).join('')}`;
  if (features.renderSingle) {
    const read = await readDirectory(dirPath, { limit: 2, dotfiles: options.dotfiles, jail }).catch(() => undefined);
    const only = read?.entries.length === 1 && !read.truncated ? read.entries[0] : undefined;
    if (only?.kind === 'file') {
      const single = await respondWithFile(req, res, base + encodeSegment(only.name), options, {
        ...control,
        fallthrough: true,
      });
      if (single.handled) return single;
    }
  }
  if (features.listing === undefined || !features.listing.allowed(`/${decoded.segments.join('/')}/`)) return undefined;
  const cache = features.listingCache;
  const key = `${dirPath}\0${wantsJson(req.headers.accept) ? 'json' : 'html'}`;
  const kept = cache?.get(key, performance.now());
  control.beforeWrite?.();
  if (kept !== undefined) {
    res.writeHead(200, {
      ...listingHeaders(wantsJson(req.headers.accept) ? 'json' : 'html'),
      'Content-Length': kept.length,
    });
    const head = req.method === 'HEAD';
    res.end(head ? undefined : kept);
    return done({
      status: 200,
      handled: true,
      bytes: head ? 0 : kept.length,
      method: 'memory',
      reason: 'directory listing',
      cache: 'hit',
    });
  }
  try {
    const checkedAt = performance.now();
    const report = await writeListing(req, res, dirPath, decoded.segments, {
      limit: features.listing.limit,
      dotfiles: options.dotfiles,
      jail,
      unlisted: features.listing.unlisted,
      ...(cache === undefined ? {} : { keepUpTo: ListingCache.MAX_BODY_BYTES }),
    });
    if (cache !== undefined && report.body !== undefined) cache.set(key, report.body, checkedAt);
    return done({ status: 200, handled: true, bytes: report.bytes, method: 'write', reason: 'directory listing' });
  } catch (error) {
    if (!res.headersSent) {
      writeError(res, req, 404);
      return done({
        status: 404,
        handled: true,
        bytes: 0,
        method: 'none',
        reason: `listing failed: ${(error as Error).message}`,
      });
    }
    res.destroy();
    return done({ status: 200, handled: true, bytes: 0, method: 'none', reason: 'listing failed' });
  }
}

/** Nothing answered: pass a 404/405 on (fallthrough), or answer it. */
function giveUp(
  req: IncomingMessage,
  res: ServerResponse,
  result: SendResult,
  control: Control,
  done: (result: Omit<SendResult, 'durationMs'>) => SendResult,
): SendResult {
  if (result.handled || control.fallthrough) return result;
  control.beforeWrite?.();
  const extra: Record<string, string> = result.status === 405 ? { Allow: 'GET, HEAD' } : {};
  writeError(res, req, result.status, extra);
  return done({
    status: result.status,
    handled: true,
    bytes: 0,
    method: 'none',
    ...(result.reason === undefined ? {} : { reason: result.reason }),
  });
}
