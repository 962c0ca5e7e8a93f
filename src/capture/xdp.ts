// The AF_XDP backend's setup: a socket with its UMEM bound to one queue of the interface
// (zero-copy first when asked for 'auto', copy mode where the driver refuses), then the
// XSKMAP and the XDP program that redirects that queue's frames to it, attached in driver
// mode where the driver runs XDP, else generic. The order matters: the map only takes a
// bound socket, and frames are redirected only once everything can receive them.
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { binding } from '../binding/load.js';
import type { NativeXdpSocket } from '../binding/native.js';
import type { SystemError } from '../errors.js';
import { systemError } from '../errors.js';
import type { ResolvedXdpOptions, XdpMode } from './options.js';

/** UMEM frames: 4096 of 2048 bytes (8 MiB) hold a frame up to a 1500-byte MTU and more. */
export const XDP_FRAME_SIZE = 2048;
export const XDP_FRAMES = 4096;
/** Receive ring entries: the most packets one batch can have. */
export const XDP_RX_ENTRIES = 2048;

/** What the kernel gave an AF_XDP capture. */
export interface XdpInfo {
  queue: number;
  /** 'zerocopy': the driver writes frames straight into the UMEM; 'copy': the kernel copies each one in. */
  mode: 'copy' | 'zerocopy';
  /** Why zero-copy was not used, when 'auto' asked for it first: the errno code bind() refused it with. */
  zeroCopyRefused: string | undefined;
  /** Where the XDP program runs: 'driver' (native XDP) or 'generic' (after the driver built an skb). */
  attach: 'driver' | 'generic';
  /** Why driver mode was not used, when it was refused: the errno code. */
  driverRefused: string | undefined;
}

function withHint(error: SystemError, hint: string): SystemError {
  error.message += `: ${hint}`;
  return error;
}

const PRIVILEGE_HINT =
  'an AF_XDP capture needs CAP_NET_RAW (the socket), CAP_BPF and CAP_NET_ADMIN (the XDP program): run as root, ' +
  'or give them to Node with `setcap cap_net_raw,cap_net_admin,cap_bpf+ep "$(command -v node)"`';

/** socket(AF_XDP), its setsockopts, the map or the program failed. */
export function xdpSetupError(result: number, syscall: string, name: string): SystemError {
  const error = Object.assign(systemError(result, syscall), { interface: name });
  switch (error.code) {
    case 'EPERM':
    case 'EACCES':
      return withHint(error, PRIVILEGE_HINT);
    case 'EAFNOSUPPORT':
      return withHint(error, 'this kernel has no AF_XDP sockets (CONFIG_XDP_SOCKETS); use the packet backend');
    case 'ENOBUFS':
    case 'ENOMEM':
      return withHint(
        error,
        `the kernel could not pin the ${XDP_FRAMES * XDP_FRAME_SIZE}-byte UMEM: raise RLIMIT_MEMLOCK (ulimit -l) or run with CAP_IPC_LOCK`,
      );
    case 'EBUSY':
    case 'EEXIST':
      return withHint(error, `'${name}' already has an XDP program attached (another capture, or another tool)`);
    default:
      return error;
  }
}

/** bind() to the queue failed. */
function bindError(result: number, name: string, queue: number, mode: XdpMode, zeroCopy: boolean): SystemError {
  const error = Object.assign(systemError(result, 'bind'), { interface: name, queue });
  if (zeroCopy && mode === 'zerocopy' && error.code !== 'EINVAL' && error.code !== 'EPERM') {
    return withHint(
      error,
      `the driver of '${name}' refused zero-copy AF_XDP (xdp.mode 'zerocopy'); xdp.mode 'auto' would fall back to copy mode`,
    );
  }
  if (error.code === 'EINVAL') {
    return withHint(error, `'${name}' has no receive queue ${queue} (options.xdp.queue); its queues start at 0`);
  }
  if (error.code === 'EBUSY') {
    return withHint(error, `queue ${queue} of '${name}' already has an AF_XDP socket`);
  }
  return error.code === 'EPERM' ? withHint(error, PRIVILEGE_HINT) : error;
}

/** The interface's ARPHRD_ type (sysfs), Ethernet where sysfs does not say. */
export function hardwareTypeOf(name: string): number {
  try {
    const value = Number.parseInt(readFileSync(`/sys/class/net/${name}/type`, 'utf8'), 10);
    return Number.isInteger(value) ? value : 1;
  } catch {
    return 1;
  }
}

function boundSocket(
  index: number,
  name: string,
  options: ResolvedXdpOptions,
  zeroCopy: boolean,
): { socket: NativeXdpSocket; fd: number } | number {
  const { XdpSocket } = binding();
  const socket = new XdpSocket();
  const fd = socket.open();
  if (fd < 0) throw xdpSetupError(fd, 'socket', name);
  try {
    const result = socket.setupUmem(XDP_FRAME_SIZE, XDP_FRAMES, XDP_RX_ENTRIES);
    if (result < 0) throw xdpSetupError(result, 'setsockopt', name);
    const flags = zeroCopy ? XdpSocket.kernel.bindZeroCopy : XdpSocket.kernel.bindCopy;
    const bound = socket.bind(index, options.queue, flags);
    if (bound < 0) {
      socket.close();
      return bound;
    }
    return { socket, fd };
  } catch (error) {
    socket.close();
    throw error;
  }
}

/**
 * A socket bound to `options.queue` of the interface with its filter set and the program
 * attached; its fd is what readiness waits on. Throws Node-style errors with what to do.
 */
export function openXdp(
  index: number,
  name: string,
  options: ResolvedXdpOptions,
  filter: Uint32Array,
  promiscuous: boolean,
): { socket: NativeXdpSocket; fd: number; info: XdpInfo } {
  const { XdpSocket } = binding();
  let zeroCopyRefused: string | undefined;
  let socket: { socket: NativeXdpSocket; fd: number } | number;
  if (options.mode === 'copy') {
    socket = boundSocket(index, name, options, false);
    if (typeof socket === 'number') throw bindError(socket, name, options.queue, 'copy', false);
  } else {
    socket = boundSocket(index, name, options, true);
    if (typeof socket === 'number') {
      // EINVAL is the queue (or the interface), not the mode: no point asking again.
      const refusal = socket;
      if (options.mode === 'zerocopy' || systemError(refusal, 'bind').code === 'EINVAL') {
        throw bindError(refusal, name, options.queue, options.mode, true);
      }
      zeroCopyRefused = systemError(refusal, 'bind').code;
      socket = boundSocket(index, name, options, false);
      if (typeof socket === 'number') throw bindError(socket, name, options.queue, 'copy', false);
    }
  }
  const { socket: xsk, fd } = socket;
  try {
    let result = xsk.setFilter(filter);
    if (result < 0) {
      const error = Object.assign(systemError(result, 'setFilter'), { interface: name });
      if (result !== -osConstants.errno.EOPNOTSUPP) throw error;
      throw withHint(
        error,
        "the filter reads the kernel's ancillary data (packet type, VLAN tag, interface), which AF_XDP frames do not carry",
      );
    }
    if (promiscuous) {
      result = xsk.setPromiscuous(index);
      if (result < 0) throw xdpSetupError(result, 'setsockopt', name);
    }
    const zeroCopy = xsk.zeroCopy();
    if (zeroCopy < 0) throw xdpSetupError(zeroCopy, 'getsockopt', name);
    result = xsk.createMap(options.queue);
    if (result < 0) throw xdpSetupError(result, 'bpf', name);
    result = xsk.loadProgram();
    if (result < 0) throw xdpSetupError(result, 'bpf', name);
    let attach: XdpInfo['attach'] = 'driver';
    let driverRefused: string | undefined;
    result = xsk.attachProgram(index, XdpSocket.kernel.attachDriver);
    if (result < 0) {
      const refusal = systemError(result, 'bpf').code;
      // A zero-copy socket needs the driver's XDP; EBUSY means a program is there already.
      if (zeroCopy === 1 || refusal === 'EBUSY' || refusal === 'EPERM') throw xdpSetupError(result, 'bpf', name);
      driverRefused = refusal;
      attach = 'generic';
      result = xsk.attachProgram(index, XdpSocket.kernel.attachGeneric);
      if (result < 0) throw xdpSetupError(result, 'bpf', name);
    }
    return {
      socket: xsk,
      fd,
      info: {
        queue: options.queue,
        mode: zeroCopy === 1 ? 'zerocopy' : 'copy',
        zeroCopyRefused,
        attach,
        driverRefused,
      },
    };
  } catch (error) {
    xsk.close();
    throw error;
  }
}
