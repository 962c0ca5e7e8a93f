// The options of sendFile and serveStatic: what a caller may set, the defaults, and the checks.
import { realpath } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';

import { cacheControlValue, type Encoding, maxAgeSeconds } from './headers.js';
import { DEFAULT_RANGE_LIMITS } from './range.js';
import type { DotfilesPolicy, Jail } from './resolve-path.js';
import type { SendResult } from './send-result.js';
import { VariantStore } from './variant-store.js';

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
  /**
   * Send text files (the types mime-db marks compressible) brotli- or gzip-encoded when
   * Accept-Encoding allows: each variant is computed once, off the event loop, kept in a
   * sealed memfd and sent by sendfile; until it is ready the file is sent as it is. .br/.gz
   * siblings (`precompressed`) win over computed variants. Default false.
   */
  compress?: boolean;
  /** Last word on headers before the status is decided (ETag and Last-Modified set here are honoured). */
  setHeaders?: (res: ServerResponse, path: string, file: FileInfo) => void;
  /** Called once per request with what happened (status, bytes, transfer method): access logs and counters. */
  onResponse?: (result: SendResult, req: IncomingMessage) => void;
}

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
  /** Where computed variants are kept; undefined when compression is off. */
  variants: VariantStore | undefined;
  setHeaders: SendFileOptions['setHeaders'];
  onResponse: SendFileOptions['onResponse'];
  /**
   * Header fields every response for the file at `path` carries, whatever the request
   * (CORS's `*`, configured headers): [name, value, ...]. Kept in cached heads too.
   */
  fileHeaders?: ((path: string) => readonly string[]) | undefined;
}

let shared: VariantStore | undefined;

/** The variants of sendFile() calls made without a handler of their own (serveStatic keeps its own). */
function sharedVariantStore(): VariantStore {
  shared ??= new VariantStore();
  return shared;
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
    variants: options.compress === true ? sharedVariantStore() : undefined,
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
