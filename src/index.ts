export { addonStatus } from './binding/load.js';
export { type Capabilities, probeCapabilities } from './doctor/probe.js';
export type { SystemError, ZerocopyError, ZerocopyErrorCode } from './errors.js';
export * from './http/index.js';
export * from './primitives/index.js';
export {
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
} from './transfer/index.js';
