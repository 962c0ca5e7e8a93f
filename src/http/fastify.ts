// serveStatic as a Fastify plugin. Typed structurally so that Fastify stays optional.
import type { IncomingMessage, ServerResponse } from 'node:http';

import { type ServeStaticOptions, serveStatic } from './serve-static.js';

/** The parts of a Fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  prefix: string;
  route(route: {
    method: string[];
    url: string;
    exposeHeadRoute?: boolean;
    handler: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<unknown>;
  }): unknown;
}
export interface FastifyRequestLike {
  raw: IncomingMessage;
}
export interface FastifyReplyLike {
  raw: ServerResponse;
  hijack(): unknown;
  callNotFound(): unknown;
}

export interface FastifyServeStaticOptions extends ServeStaticOptions {
  root: string;
}

/**
 * `fastify.register(fastifyServeStatic, { root: 'public', prefix: '/static' })`.
 * The raw request-target (not Fastify's decoded params) is resolved inside the root, so
 * nothing is decoded twice. Missing files go to Fastify's not-found handler; once a file is
 * found the reply is hijacked and the body goes out on the raw response.
 */
export function fastifyServeStatic(
  fastify: FastifyInstanceLike,
  options: FastifyServeStaticOptions,
  done: (error?: Error) => void,
): void {
  const { root, ...rest } = options;
  let handler: ReturnType<typeof serveStatic>;
  try {
    handler = serveStatic(root, rest);
  } catch (error) {
    done(error as Error);
    return;
  }
  const prefix = fastify.prefix.replace(/\/+$/, '');
  fastify.route({
    method: ['GET', 'HEAD'],
    url: '/*',
    exposeHeadRoute: false,
    handler: async (request, reply) => {
      const url = request.raw.url ?? '/';
      if (!url.startsWith(prefix)) return reply.callNotFound();
      const target = url.slice(prefix.length);
      const result = await handler.handle(request.raw, reply.raw, {
        fallthrough: true,
        beforeWrite: () => reply.hijack(),
        target: target.startsWith('/') ? target : `/${target}`,
        redirectTarget: url,
      });
      if (!result.handled) return reply.callNotFound();
      return undefined;
    },
  });
  done();
}
