export { cloneFile, cloneRange, copyFileRange, copyFileRangeAsync } from './copy.js';
export {
  close,
  type DescriptorInfo,
  type DescriptorKind,
  describeDescriptor,
  dup,
  type FadviseAdvice,
  fadvise,
  readahead,
  setNonBlocking,
} from './fd.js';
export { fileSystemOf, mayShareExtents } from './file-system.js';
export { addSeals, getSeals, type MemfdOptions, memfdCreate, type Seal } from './memfd.js';
export { isMapped, type MadviseAdvice, type MmapOptions, madvise, mmap, msync, unmap } from './mmap.js';
export { addressOf, processVmReadv, processVmWritev, type RemoteRange } from './process-vm.js';
export { type SeekWhence, seek, seekData, seekHole } from './seek.js';
export { sendfile, sendfileAsync } from './sendfile.js';
export {
  enableZeroCopy,
  readZeroCopyCompletions,
  type SocketInfo,
  sendZeroCopy,
  setTcpCork,
  setTcpNoDelay,
  socketDescriptor,
  socketInfo,
  socketPair,
  type ZeroCopyCompletion,
} from './socket.js';
export {
  getPipeSize,
  type PipeOptions,
  pipe,
  type SpliceFlags,
  setPipeSize,
  splice,
  spliceAsync,
  tee,
  vmsplice,
} from './splice.js';
export type { Offset } from './validate.js';
