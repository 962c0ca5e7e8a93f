// sendFile: one file as an HTTP response on node:http, with the semantics of RFC 9110.
// The steps live next door: the options (send-options.ts), finding the file (locate-file.ts),
// the small-file cache (send-cache.ts), the response itself (write-response.ts).
import type { FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { cacheVariant, compressionFor, openVariant, variantFor, variantRepresentation } from './compressed-variant.js';
import type { CachedFile, FileCache } from './file-cache.js';
import { type ChosenFile, closeQuietly, encodingsToTry } from './locate-file.js';
import { representationOf } from './representation.js';
import type { Jail } from './resolve-path.js';
import { answerFromMemory, cacheSlot, findThroughCache } from './send-cache.js';
import { jailFor, type ResolvedOptions, resolveOptions, type SendFileOptions } from './send-options.js';
import { elapsed, type SendResult } from './send-result.js';
import type { PinnedVariant } from './variant-store.js';
import { type Ending, respondWithRepresentation, writeError, writeRedirect } from './write-response.js';

export type { FileInfo, SendFileOptions } from './send-options.js';
export type { CacheOutcome, SendResult } from './send-result.js';

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

const ALLOW = 'GET, HEAD';

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
  const ending: Ending = { finish, fail };

  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') return fail(405, `method ${method}`, { Allow: ALLOW });

  // The small-file cache: looked up by the path exactly as findFile() decodes it. Only requests
  // that findFile() would not refuse before touching the disk (bad encoding, '..', dotfiles) get a slot.
  const cache = options.root === undefined ? undefined : control.cache;
  const encodings = encodingsToTry(req.headers['accept-encoding'], options);
  const slot = cache === undefined ? undefined : cacheSlot(cache, target, encodings, options);
  const entry = slot?.entry;
  if (entry !== undefined && startedAt < entry.validUntil) {
    return (
      answerFromMemory(req, res, entry, options, control.beforeWrite, startedAt) ??
      respondWithRepresentation(req, res, entry, entry.body, options, control.beforeWrite, ending, 'hit')
    );
  }

  const lookup = { target, encodings, jail: control.jail, redirectTarget: control.redirectTarget ?? target };
  const acceptEncoding = req.headers['accept-encoding'];
  const compressing = (chosen: ChosenFile) => compressionFor(chosen, acceptEncoding, options).length > 0;
  const found = await findThroughCache(lookup, options, cache, slot, startedAt, compressing);
  if (found.kind === 'error') return fail(found.status, found.reason);
  if (found.kind === 'redirect') {
    control.beforeWrite?.();
    writeRedirect(res, req, found.location);
    return finish({ status: 301, handled: true, bytes: 0, method: 'none', reason: 'directory' });
  }

  const { chosen, cached } = found;
  try {
    const encodings = compressionFor(chosen, acceptEncoding, options);
    const variant =
      encodings.length > 0 && options.variants !== undefined && cached === undefined
        ? await variantFor(chosen, encodings, options.variants)
        : undefined;
    if (variant !== undefined) {
      const kept =
        cache === undefined || slot === undefined
          ? undefined
          : keepVariant(cache, slot.key, chosen, variant, encodings[0]!, options, startedAt);
      if (kept !== undefined) {
        variant.release();
        return await respondWithRepresentation(
          req,
          res,
          kept,
          kept.body,
          options,
          control.beforeWrite,
          ending,
          'stored',
        );
      }
      const sent = await respondWithVariant(req, res, chosen, variant, options, control.beforeWrite, ending);
      if (sent !== undefined) return sent;
    }
    return cached === undefined
      ? await respondWithRepresentation(
          req,
          res,
          representationOf(chosen, options),
          chosen.file,
          options,
          control.beforeWrite,
          ending,
        )
      : await respondWithRepresentation(
          req,
          res,
          cached.entry,
          cached.entry.body,
          options,
          control.beforeWrite,
          ending,
          cached.outcome,
        );
  } finally {
    // Only now: the body path may still hold the descriptor until writeBody settles.
    await closeQuietly(chosen.file);
  }
}

/** cacheVariant(), or undefined when the memfd cannot be read (the variant is then sent from it). */
function keepVariant(...args: Parameters<typeof cacheVariant>): CachedFile | undefined {
  try {
    return cacheVariant(...args);
  } catch {
    return undefined;
  }
}

/** The response from a computed variant, through a descriptor of its own; undefined (nothing written) if it cannot be opened. */
async function respondWithVariant(
  req: IncomingMessage,
  res: ServerResponse,
  chosen: ChosenFile,
  variant: PinnedVariant,
  options: ResolvedOptions,
  beforeWrite: (() => void) | undefined,
  ending: Ending,
): Promise<SendResult | undefined> {
  try {
    let file: FileHandle;
    try {
      file = await openVariant(variant);
    } catch {
      return undefined; // out of descriptors, say: the file as it is will do
    }
    try {
      const rep = variantRepresentation(chosen, variant, options);
      return await respondWithRepresentation(req, res, rep, file, options, beforeWrite, ending);
    } finally {
      await closeQuietly(file);
    }
  } finally {
    variant.release();
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
