// What the headers of a 200/206/304 are made of, whether the body is on disk or in memory.
import { variesOnEncoding } from './compress-policy.js';
import { strongEtag } from './conditional.js';
import { contentTypeFor, type Encoding } from './headers.js';
import type { ChosenFile } from './locate-file.js';
import type { ResolvedOptions } from './send-options.js';

export interface Representation {
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

export function representationOf(chosen: ChosenFile, options: ResolvedOptions): Representation {
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

/**
 * The header fields respondWithRepresentation() sets for a 200 on a fresh response, in its
 * order: [name, value, name, value, ...].
 */
export function headerBlock(rep: Representation, options: ResolvedOptions): string[] {
  const fields = ['Content-Type', rep.contentType, 'Accept-Ranges', options.acceptRanges ? 'bytes' : 'none'];
  if (options.cacheControl !== undefined) fields.push('Cache-Control', options.cacheControl);
  if (rep.lastModified !== undefined) fields.push('Last-Modified', rep.lastModified);
  if (rep.etag !== undefined) fields.push('ETag', rep.etag);
  if (rep.encoding !== undefined) fields.push('Content-Encoding', rep.encoding);
  if (variesOnEncoding(rep.contentType, options)) fields.push('Vary', 'Accept-Encoding');
  if (options.fileHeaders !== undefined) addFileHeaders(fields, options.fileHeaders(rep.path));
  fields.push('Content-Length', String(rep.size));
  return fields;
}

/** Adds configured fields to a header block: one of the same name is replaced, Vary is joined. */
function addFileHeaders(fields: string[], extra: readonly string[]): void {
  for (let i = 0; i + 1 < extra.length; i += 2) {
    const name = extra[i]!;
    const lower = name.toLowerCase();
    let at = -1;
    for (let j = 0; j + 1 < fields.length; j += 2) if (fields[j]!.toLowerCase() === lower) at = j;
    if (at === -1) fields.push(name, extra[i + 1]!);
    else if (lower === 'vary') fields[at + 1] = `${fields[at + 1]}, ${extra[i + 1]}`;
    else fields[at + 1] = extra[i + 1]!;
  }
}
