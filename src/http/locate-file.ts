// From the path a request names to an open file: jail, dotfiles, directory index, extensions,
// the redirect of a directory, and the precompressed sibling the client takes.
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

import { acceptableEncodings, ENCODING_SUFFIX, type Encoding } from './headers.js';
import {
  checkDotfiles,
  decodeRequestPath,
  type HttpFailure,
  type Jail,
  joinInRoot,
  type Opened,
  openForServing,
} from './resolve-path.js';
import type { ResolvedOptions } from './send-options.js';

type Found = { kind: 'found'; file: FileHandle; path: string; stat: BigIntStats };

/** The file to send, open; the caller closes `file`. */
export interface ChosenFile {
  kind: 'found';
  file: FileHandle;
  /** The file asked for (its name gives Content-Type). */
  path: string;
  /** Of the file open in `file`. */
  stat: BigIntStats;
  /** Set when `file` is the precompressed sibling. */
  encoding?: Encoding;
  /** The sibling's path when `encoding` is set. */
  siblingPath: string | undefined;
}

export type Redirect = { kind: 'redirect'; location: string };

const NO_ENCODINGS: readonly Encoding[] = [];

const BOTH: readonly Encoding[] = ['br', 'gzip'];

/**
 * The encodings worth trying for this Accept-Encoding, best first: precompressed siblings
 * and computed variants. Part of the cache key, so that clients taking different encodings
 * never share an entry.
 */
export function encodingsToTry(acceptEncoding: string | undefined, options: ResolvedOptions): readonly Encoding[] {
  if (options.variants !== undefined) return acceptableEncodings(acceptEncoding, BOTH);
  return options.precompressed.length === 0 ? NO_ENCODINGS : acceptableEncodings(acceptEncoding, options.precompressed);
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

export async function closeQuietly(file: FileHandle): Promise<void> {
  await file.close().catch(() => undefined);
}

/** Finds the file a request names: jail, dotfiles, directory index, extensions, redirect. */
async function locate(
  target: string,
  options: ResolvedOptions,
  jail: Jail | undefined,
  requestTarget: string,
): Promise<Found | Redirect | HttpFailure> {
  let candidate: string;
  let trailingSlash: boolean;
  if (options.root !== undefined) {
    const decoded = decodeRequestPath(target);
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

  let opened: Opened = await openForServing(candidate, jail);
  if (opened.kind === 'error' && opened.status === 404 && !trailingSlash) {
    // Extensions are tried only for names that were not found (send's order).
    for (const extension of options.extensions) {
      const next = await openForServing(`${candidate}.${extension}`, jail);
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
    const indexed = await openForServing(join(opened.path, name), jail);
    if (indexed.kind === 'file') return { kind: 'found', file: indexed.file, path: indexed.path, stat: indexed.stat };
  }
  return { kind: 'error', status: 404, reason: 'directory without an index file' };
}

/** Swaps `found` for its .br/.gz sibling when the client takes that encoding and the sibling exists. */
async function pickEncoding(found: Found, encodings: readonly Encoding[], jail: Jail | undefined): Promise<ChosenFile> {
  for (const encoding of encodings) {
    const sibling = await openForServing(found.path + ENCODING_SUFFIX[encoding], jail);
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

/** Where a file lookup starts from. */
export interface Lookup {
  /** The request path (a URL path under options.root, or an absolute path without a root). */
  target: string;
  /** The precompressed encodings to try, best first (encodingsToTry()). */
  encodings: readonly Encoding[];
  /** realpath of the root, when serving under one. */
  jail: Jail | undefined;
  /** The URL a directory redirect points at, with a slash added. */
  redirectTarget: string;
}

/**
 * The file a request names, open, with its precompressed sibling swapped in when the client
 * takes it; or the redirect of a directory, or why there is no file to send.
 */
export async function findFile(lookup: Lookup, options: ResolvedOptions): Promise<ChosenFile | Redirect | HttpFailure> {
  const located = await locate(lookup.target, options, lookup.jail, lookup.redirectTarget);
  if (located.kind !== 'found') return located;
  const siblings = lookup.encodings.filter((encoding) => options.precompressed.includes(encoding));
  return siblings.length > 0 ? pickEncoding(located, siblings, lookup.jail) : { ...located, siblingPath: undefined };
}
