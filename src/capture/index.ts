export { CaptureBatch, type CapturedPacket, type PacketDirection, type VlanTag } from './batch.js';
export { Capture, type CaptureStats, capture } from './capture.js';
export { compileFilter } from './filter/index.js';
export type { LinkType } from './link-type.js';
export type {
  CaptureBackend,
  CaptureOptions,
  FanoutMode,
  FanoutOptions,
  RingOptions,
  XdpMode,
  XdpOptions,
} from './options.js';
export { PcapWriter, type PcapWriterOptions } from './pcap.js';
export { type BpfInstruction, type BpfProgram, type CaptureDirection, parseBpfListing } from './program.js';
export type { XdpInfo } from './xdp.js';
