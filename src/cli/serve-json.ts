// serve.json, the configuration file of `serve` (serve-handler's format), read as options of
// serveStatic. A key we do not support is an error naming it: never a silent ignore.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import type { ServeExtras } from '../http/serve-static.js';

/** What serve.json gives `zerocopy serve`. */
export interface ServeJson {
  /** The file it came from. */
  file: string;
  /** `public`, resolved against the file's directory. */
  dir?: string;
  extras: ServeExtras;
  etag?: boolean;
  /** `symlinks: true`: follow symlinks that lead outside the served directory. */
  followSymlinks?: boolean;
}

const SUPPORTED = [
  'public',
  'cleanUrls',
  'rewrites',
  'redirects',
  'headers',
  'directoryListing',
  'unlisted',
  'trailingSlash',
  'renderSingle',
  'etag',
  'symlinks',
  '$schema',
];

function fail(file: string, message: string): never {
  throw new Error(`${file}: ${message}`);
}

function booleanOrGlobs(file: string, key: string, value: unknown): boolean | string[] {
  if (typeof value === 'boolean') return value;
  if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value as string[];
  return fail(file, `'${key}' must be true, false or a list of globs`);
}

function boolean(file: string, key: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(file, `'${key}' must be true or false`);
  return value;
}

function list<T>(file: string, key: string, value: unknown): T[] {
  if (!Array.isArray(value)) fail(file, `'${key}' must be a list`);
  return value as T[];
}

/** Parses the text of a serve.json at `file`; throws an Error naming the file and the key. */
export function parseServeJson(file: string, text: string): ServeJson {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (error) {
    return fail(file, `not JSON: ${(error as Error).message}`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) fail(file, 'must hold a JSON object');
  const entries = config as Record<string, unknown>;
  for (const key of Object.keys(entries)) {
    if (!SUPPORTED.includes(key)) {
      fail(
        file,
        `'${key}' is not supported by zerocopy serve (supported: ${SUPPORTED.filter((k) => k !== '$schema').join(', ')})`,
      );
    }
  }
  const out: ServeJson = { file, extras: {} };
  const { extras } = out;
  if (entries.public !== undefined) {
    if (typeof entries.public !== 'string' || entries.public === '') fail(file, "'public' must be a directory path");
    out.dir = resolve(dirname(file), entries.public);
  }
  if (entries.cleanUrls !== undefined) extras.cleanUrls = booleanOrGlobs(file, 'cleanUrls', entries.cleanUrls);
  if (entries.rewrites !== undefined) extras.rewrites = list(file, 'rewrites', entries.rewrites);
  if (entries.redirects !== undefined) extras.redirects = list(file, 'redirects', entries.redirects);
  if (entries.headers !== undefined) extras.headers = list(file, 'headers', entries.headers);
  if (entries.directoryListing !== undefined) {
    extras.listing = booleanOrGlobs(file, 'directoryListing', entries.directoryListing);
  }
  if (entries.unlisted !== undefined) {
    const unlisted = list<unknown>(file, 'unlisted', entries.unlisted);
    if (!unlisted.every((item) => typeof item === 'string')) fail(file, "'unlisted' must be a list of globs");
    extras.unlisted = unlisted as string[];
  }
  if (entries.trailingSlash !== undefined) extras.trailingSlash = boolean(file, 'trailingSlash', entries.trailingSlash);
  if (entries.renderSingle !== undefined) extras.renderSingle = boolean(file, 'renderSingle', entries.renderSingle);
  if (entries.etag !== undefined) out.etag = boolean(file, 'etag', entries.etag);
  if (entries.symlinks !== undefined) out.followSymlinks = boolean(file, 'symlinks', entries.symlinks);
  return out;
}

/** Reads serve.json from `file`; undefined when `optional` and there is none. */
export function readServeJson(file: string, optional: boolean): ServeJson | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (optional && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file}: cannot read: ${(error as Error).message}`);
  }
  return parseServeJson(file, text);
}
