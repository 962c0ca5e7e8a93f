// What on-the-fly compression applies to and how hard it works: the types worth compressing,
// the encodings a request takes (by Accept-Encoding, q-values honoured), the zlib settings.
import { constants as zlib } from 'node:zlib';

import compressible from 'compressible';

import type { Encoding } from './headers.js';
import type { ResolvedOptions } from './send-options.js';

/** The encodings computed on the fly, in the order taken when a client weighs them the same. */
export const COMPRESSED_ENCODINGS: readonly Encoding[] = ['br', 'gzip'];

/**
 * Smaller files are sent as they are: their compressed form saves less than a packet, and
 * the headers Content-Encoding and an ETag suffix cost bytes of their own (the `compression`
 * package uses the same 1 KiB threshold).
 */
export const COMPRESS_MIN_BYTES = 1024;

/**
 * Larger files are sent as they are: a variant is built from the whole file in memory, and
 * a bundle or a page larger than this is rare; such files are better precompressed at build
 * time (the .br/.gz siblings, which are served whatever their size).
 */
export const COMPRESS_MAX_SOURCE_BYTES = 8 * 1024 * 1024;

/**
 * Brotli quality 5: a variant is computed once and served many times, but on the first
 * request's clock and on a thread-pool thread. Quality 5 already compresses text a little
 * better than gzip level 9 at about gzip level 6's speed; 11 (the default) gains a few
 * percent more at 50-100x the CPU, which is what build-time precompression is for.
 */
export const BROTLI_QUALITY = 5;

/** gzip level 6: zlib's own default, within a few percent of level 9's ratio at a fraction of its time. */
export const GZIP_LEVEL = 6;

/** zlib options for an encoding, for a source of `size` bytes. */
export function zlibOptions(encoding: Encoding, size: number): object {
  return encoding === 'br'
    ? {
        params: {
          [zlib.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
          [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT,
          [zlib.BROTLI_PARAM_SIZE_HINT]: size,
        },
      }
    : { level: GZIP_LEVEL };
}

const compressibleTypes = new Map<string, boolean>();

/**
 * Whether a Content-Type is text worth compressing: mime-db's `compressible` flag (text/*
 * and +json/+xml otherwise). application/octet-stream, which mime-db flags too, is what a
 * file of unknown kind is sent as: often already compressed, never known to be text.
 */
export function isCompressibleType(contentType: string): boolean {
  let known = compressibleTypes.get(contentType);
  if (known === undefined) {
    known = compressible(contentType) === true && !contentType.startsWith('application/octet-stream');
    // Content types come from file names through mime-types: a few hundred at most.
    if (compressibleTypes.size < 4096) compressibleTypes.set(contentType, known);
  }
  return known;
}

/** Whether responses of this Content-Type vary on Accept-Encoding under these options. */
export function variesOnEncoding(contentType: string, options: ResolvedOptions): boolean {
  return options.precompressed.length > 0 || (options.variants !== undefined && isCompressibleType(contentType));
}
