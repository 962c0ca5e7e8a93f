export { addonStatus } from './binding/load.js';
export * from './capture/index.js';
export {
  type CopyFileOptions,
  type CopyFileReport,
  copyFile,
  type ReflinkMode,
} from './copy/copy-file.js';
export { dataExtents, type Extent } from './copy/sparse.js';
export { type Capabilities, probeCapabilities } from './doctor/probe.js';
export {
  ARGUMENT_ERROR_CODES,
  type SystemError,
  ZEROCOPY_ERROR_CODES,
  type ZerocopyError,
  type ZerocopyErrorCode,
} from './errors.js';
export {
  DEFAULT_LAG_LIMIT,
  type DestinationOptions,
  type DestinationOutcome,
  type DestinationReport,
  Fanout,
  type FanoutDestination,
  type FanoutError,
  type FanoutMember,
  type FanoutMethod,
  type FanoutOptions,
  type FanoutReport,
  type FanoutSource,
  fanout,
  type LagPolicy,
} from './fanout/index.js';
export * from './http/index.js';
export * from './ipc/index.js';
export * from './primitives/index.js';
export {
  type DirectionReport,
  LARGE_READ_BYTES,
  type PipeOutcome,
  type PipeSocketsOptions,
  type PipeSocketsReport,
  pipeSockets,
  SPLICE_AFTER_LARGE_READS,
  type SpliceMode,
} from './proxy/pipe-sockets.js';
export {
  type ConnectionOutcome,
  type ConnectionRecord,
  createProxy,
  type ProxyAddress,
  type ProxyCounters,
  type ProxyOptions,
  ProxyServer,
  parseAddress as parseProxyAddress,
} from './proxy/server.js';
export {
  type GsoSendReport,
  idlePipeCount,
  SMALL_TRANSFER_BYTES,
  type TransferDestination,
  type TransferError,
  type TransferFallback,
  type TransferMethod,
  type TransferOptions,
  type TransferReport,
  type TransferSource,
  transfer,
  ZERO_COPY_SEND_BYTES,
  type ZeroCopySendReport,
} from './transfer/index.js';
