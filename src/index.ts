export { addonStatus } from './binding/load.js';
export { type Capabilities, probeCapabilities } from './doctor/probe.js';
export type { SystemError, ZerocopyError, ZerocopyErrorCode } from './errors.js';
export * from './primitives/index.js';
