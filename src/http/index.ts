export type { BodyError, BodyReport } from './body.js';
export { type CountersSnapshot, ServeCounters } from './counters.js';
export {
  type FastifyInstanceLike,
  type FastifyReplyLike,
  type FastifyRequestLike,
  type FastifyServeStaticOptions,
  fastifyServeStatic,
} from './fastify.js';
export type { Encoding } from './headers.js';
export {
  createNativeFront,
  type FrontResponse,
  type NativeFront,
  type NativeFrontOptions,
  nativeFrontAvailable,
} from './native-front.js';
export type { ByteRange } from './range.js';
export { type DotfilesPolicy, requestPath } from './resolve-path.js';
export { type FileInfo, type SendFileOptions, type SendResult, sendFile } from './send-file.js';
export { type NextFunction, type ServeStaticOptions, type StaticHandler, serveStatic } from './serve-static.js';
export type { VariantStats, VariantStore } from './variant-store.js';
