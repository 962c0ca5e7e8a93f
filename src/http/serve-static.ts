// serveStatic: a directory as a request handler for node:http, Express and Connect.
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Jail } from './resolve-path.js';
import {
  type Control,
  jailFor,
  type ResolvedOptions,
  resolveOptions,
  respondWithFile,
  type SendFileOptions,
  type SendResult,
} from './send-file.js';

export interface ServeStaticOptions extends Omit<SendFileOptions, 'root'> {
  /**
   * With a `next` (Express, Connect): a missing file or a method other than GET/HEAD calls
   * next() so that later routes can answer. Default true. Without a `next`, or when false,
   * those are answered here with 404 / 405.
   */
  fallthrough?: boolean;
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
  const resolved: ResolvedOptions = resolveOptions({ ...options, root });
  const fallthrough = options.fallthrough ?? true;
  let jail: Promise<Jail> | undefined;
  const getJail = () => {
    jail ??= jailFor(resolved.root!, resolved.allowSymlinksOutsideRoot);
    return jail;
  };

  const handle: StaticHandler['handle'] = async (req, res, control = {}) => {
    const original = (req as IncomingMessage & { originalUrl?: unknown }).originalUrl;
    const settled: Control = {
      fallthrough: control.fallthrough ?? false,
      jail: await getJail(),
      redirectTarget: control.redirectTarget ?? (typeof original === 'string' ? original : (req.url ?? '/')),
      ...(control.beforeWrite === undefined ? {} : { beforeWrite: control.beforeWrite }),
    };
    return respondWithFile(req, res, control.target ?? req.url ?? '/', resolved, settled);
  };

  const handler = ((req: IncomingMessage, res: ServerResponse, next?: NextFunction) => {
    handle(req, res, { fallthrough: fallthrough && next !== undefined }).then(
      (result) => {
        if (!result.handled) next?.();
      },
      (error: unknown) => answerUnexpected(res, error, next),
    );
  }) as StaticHandler;
  handler.handle = handle;
  Object.defineProperty(handler, 'root', { value: resolved.root, enumerable: true });
  return handler;
}
