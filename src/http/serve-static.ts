// serveStatic: a directory as a request handler for node:http, Express and Connect.
import type { IncomingMessage, ServerResponse } from 'node:http';

import { DEFAULT_FILE_CACHE_LIMITS, FileCache } from './file-cache.js';
import { type FrontAnswer, frontAnswerFor } from './front-answer.js';
import type { Jail } from './resolve-path.js';
import { answerCacheHit } from './send-cache.js';
import { type Control, respondWithFile } from './send-file.js';
import { jailFor, type ResolvedOptions, resolveOptions, type SendFileOptions } from './send-options.js';
import type { SendResult } from './send-result.js';
import {
  type FeatureOptions,
  featuresOf,
  fileHeadersOf,
  interceptsRequest,
  respondWithFeatures,
  type ServeFeatures,
} from './serve-features.js';
import { DEFAULT_VARIANT_LIMITS, VariantStore } from './variant-store.js';

export interface ServeStaticOptions extends Omit<SendFileOptions, 'root'>, ServeExtras {
  /**
   * With a `next` (Express, Connect): a missing file or a method other than GET/HEAD calls
   * next() so that later routes can answer. Default true. Without a `next`, or when false,
   * those are answered here with 404 / 405.
   */
  fallthrough?: boolean;
  /**
   * Small files are kept in memory (bytes and headers) and answered without any file system
   * call for up to this many milliseconds after the disk last confirmed them; then the next
   * request resolves, opens and checks the file again, as if uncached. A change on disk can
   * therefore be seen this late. Default 1000; 0 turns the cache off.
   */
  cacheValidity?: number;
  /** Largest file kept in memory, in bytes. Default 262144 (256 KiB). */
  cacheMaxFileSize?: number;
  /** Bytes of file bodies kept in memory at most. Default 67108864 (64 MiB). */
  cacheMaxBytes?: number;
  /** Files kept in memory at most. Default 4096. */
  cacheMaxEntries?: number;
  /**
   * With `compress`: bytes of computed brotli/gzip variants kept at most (their own budget,
   * apart from cacheMaxBytes; least recently used first out). Default 33554432 (32 MiB).
   */
  compressMaxBytes?: number;
  /** With `compress`: variants (each a sealed memfd, so a descriptor) kept at most. Default 1024. */
  compressMaxEntries?: number;
}

/** What `zerocopy serve` (and serve.json) adds to plain file serving; all off by default. */
export interface ServeExtras extends FeatureOptions {
  /**
   * A directory without an index file answers a listing (HTML, or JSON for
   * `Accept: application/json`): true, or globs of the directory paths that may be listed.
   */
  listing?: boolean | readonly string[];
  /** Entries a listing shows at most (default 10000); the page says when there were more. */
  listingLimit?: number;
  /** Globs of names left out of listings. Default ['.DS_Store', '.git']. */
  unlisted?: readonly string[];
  /** Single-page app: a GET/HEAD for text/html that matches no file gets /index.html (paths with an extension still 404). */
  single?: boolean;
  /** A directory holding exactly one file (and no index) answers that file. */
  renderSingle?: boolean;
  /** CORS: true or '*' for any origin, or a list of origins ('https://a.example,https://b.example' or an array). */
  cors?: FeatureOptions['cors'];
  /** `/about.html` redirects (301) to `/about`, which serves about.html. true, or globs of the paths it applies to. */
  cleanUrls?: boolean | readonly string[];
  /** true: `/about` redirects to `/about/`; false: `/about/` to `/about`. Default: paths are left alone. */
  trailingSlash?: boolean;
  /** serve.json's rewrites: a path that names no file is looked up as `destination`. */
  rewrites?: FeatureOptions['rewrites'];
  /** serve.json's redirects (301 unless `type` says 302, 303, 307 or 308). */
  redirects?: FeatureOptions['redirects'];
  /** serve.json's headers: fields set on the files whose path matches `source`. */
  headers?: FeatureOptions['headers'];
}

/** Express/Connect's next(). */
export type NextFunction = (error?: unknown) => void;

export interface StaticHandler {
  (req: IncomingMessage, res: ServerResponse, next?: NextFunction): void;
  /** The same work as a promise; for adapters (Fastify) and for callers that want the result. */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    control?: { fallthrough?: boolean; beforeWrite?: () => void; target?: string; redirectTarget?: string },
  ): Promise<SendResult>;
  readonly root: string;
  /** The small-file cache, when on (for tests and status pages). */
  readonly cache: FileCache | undefined;
  /** The answer depends on the request's Origin (CORS with an origin list): a front must hand such requests over. */
  readonly variesByOrigin: boolean;
  /** The computed brotli/gzip variants, when `compress` is on (for tests and status pages). */
  readonly variants: VariantStore | undefined;
  /**
   * The 200 a plain GET of `target` (no Range, no condition) gets, in a form a front that
   * answers such requests itself (`zerocopy serve`'s native front) may keep for a while:
   * the cache entry, or an open file too large to cache. See frontAnswerFor().
   */
  frontAnswer(
    target: string,
    acceptEncoding: string | undefined,
    minRemainingMs?: number,
  ): Promise<FrontAnswer | undefined>;
}

function answerUnexpected(res: ServerResponse, error: unknown, next: NextFunction | undefined): void {
  if (next !== undefined) {
    next(error);
    return;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': 22 });
  res.end('Internal Server Error\n');
}

/**
 * Serves files under `root` for GET and HEAD: `http.createServer(serveStatic('public'))`,
 * `app.use('/static', serveStatic('public'))` in Express. The URL path (req.url, which
 * Express strips of the mount point) is resolved inside the root.
 */
export function serveStatic(root: string, options: ServeStaticOptions = {}): StaticHandler {
  if (typeof root !== 'string' || root === '') throw new TypeError('serveStatic(root): root must be a non-empty path');
  const features: ServeFeatures | undefined = featuresOf(
    options,
    options.cacheValidity ?? DEFAULT_FILE_CACHE_LIMITS.validityMs,
  );
  const shared: ResolvedOptions = resolveOptions({
    ...options,
    root,
    // Clean URLs serve /about from about.html; without a trailing slash a directory is not redirected.
    ...(options.cleanUrls === undefined || options.cleanUrls === false
      ? {}
      : { extensions: [...new Set([...(options.extensions || []), 'html'])] }),
    ...(options.trailingSlash === false ? { redirect: false } : {}),
  });
  const variants =
    shared.variants === undefined
      ? undefined
      : new VariantStore({
          maxBytes: options.compressMaxBytes ?? DEFAULT_VARIANT_LIMITS.maxBytes,
          maxEntries: options.compressMaxEntries ?? DEFAULT_VARIANT_LIMITS.maxEntries,
        });
  const resolved: ResolvedOptions = { ...shared, variants };
  if (features !== undefined) resolved.fileHeaders = fileHeadersOf(features, resolved.root!);
  // Requests the cache's fast path must leave to respondWithFeatures().
  const intercepted = (req: IncomingMessage, target: string) =>
    features !== undefined && interceptsRequest(features, target, req.headers.origin);
  const fallthrough = options.fallthrough ?? true;
  const validityMs = options.cacheValidity ?? DEFAULT_FILE_CACHE_LIMITS.validityMs;
  const cache =
    validityMs === 0
      ? undefined
      : new FileCache({
          validityMs,
          maxFileBytes: options.cacheMaxFileSize ?? DEFAULT_FILE_CACHE_LIMITS.maxFileBytes,
          maxBytes: options.cacheMaxBytes ?? DEFAULT_FILE_CACHE_LIMITS.maxBytes,
          maxEntries: options.cacheMaxEntries ?? DEFAULT_FILE_CACHE_LIMITS.maxEntries,
        });
  let jail: Promise<Jail> | undefined;
  let settledJail: Jail | undefined;
  const getJail = () => {
    jail ??= jailFor(resolved.root!, resolved.allowSymlinksOutsideRoot).then((value) => {
      settledJail = value;
      return value;
    });
    return jail;
  };

  // Everything but a fresh cache hit.
  const respond: StaticHandler['handle'] = async (req, res, control = {}) => {
    const original = (req as IncomingMessage & { originalUrl?: unknown }).originalUrl;
    const settled: Control = {
      fallthrough: control.fallthrough ?? false,
      jail: settledJail ?? (await getJail()),
      redirectTarget: control.redirectTarget ?? (typeof original === 'string' ? original : (req.url ?? '/')),
      ...(control.beforeWrite === undefined ? {} : { beforeWrite: control.beforeWrite }),
      cache,
    };
    const target = control.target ?? req.url ?? '/';
    if (features !== undefined) return respondWithFeatures(req, res, target, resolved, settled, features);
    return respondWithFile(req, res, target, resolved, settled);
  };

  const handle: StaticHandler['handle'] = async (req, res, control = {}) => {
    if (cache !== undefined && !intercepted(req, control.target ?? req.url ?? '/')) {
      const hit = answerCacheHit(req, res, control.target ?? req.url ?? '/', resolved, cache, control.beforeWrite);
      if (hit !== undefined) return hit;
    }
    return respond(req, res, control);
  };

  const handler = ((req: IncomingMessage, res: ServerResponse, next?: NextFunction) => {
    // A fresh cache hit is answered here and now: no promise, no closure, no file system call.
    if (cache !== undefined && !intercepted(req, req.url ?? '/')) {
      try {
        if (answerCacheHit(req, res, req.url ?? '/', resolved, cache) !== undefined) return;
      } catch (error) {
        answerUnexpected(res, error, next);
        return;
      }
    }
    respond(req, res, { fallthrough: fallthrough && next !== undefined }).then(
      (result) => {
        if (!result.handled) next?.();
      },
      (error: unknown) => answerUnexpected(res, error, next),
    );
  }) as StaticHandler;
  handler.handle = handle;
  handler.frontAnswer = async (target, acceptEncoding, minRemainingMs) => {
    if (cache === undefined) return undefined;
    // The front keeps answers by target (and Accept-Encoding) only; requests with an Origin
    // that matters never reach it (variesByOrigin), and redirected paths are node:http's.
    if (features !== undefined && interceptsRequest(features, target, undefined)) return undefined;
    const jail = settledJail ?? (await getJail());
    return frontAnswerFor(target, acceptEncoding, resolved, { jail, cache }, minRemainingMs);
  };
  Object.defineProperty(handler, 'root', { value: resolved.root, enumerable: true });
  Object.defineProperty(handler, 'cache', { value: cache, enumerable: true });
  Object.defineProperty(handler, 'variesByOrigin', { value: features?.cors?.origins !== undefined, enumerable: true });
  Object.defineProperty(handler, 'variants', { value: variants, enumerable: true });
  return handler;
}
