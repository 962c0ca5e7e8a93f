// What this kernel and file system give us, found by cheap probes with no lasting effect.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { getSystemErrorName } from 'node:util';
import { ENOENT, ENOSYS, ENOTCONN, EPERM } from '../binding/errno.js';
import { addonStatus, binding } from '../binding/load.js';
import type { NativeBinding } from '../binding/native.js';
import { DEFAULT_FRONT_ENGINE, type FrontEngineChoice, resolveFrontEngine } from '../http/front-engine.js';
import { fileSystemName } from '../primitives/file-system.js';
import { probeAfXdp } from './af-xdp.js';
import { type SendModeProbe, sendMode } from './send-mode.js';

export interface Probe {
  available: boolean;
  /** One line a person can read: why yes, why not. */
  detail: string;
  /** The errno that decided it, if one did. */
  code?: string;
}

export interface Capabilities {
  platform: string;
  kernel: string;
  node: string;
  addon: Probe;
  syscalls: Record<
    'sendfile' | 'splice' | 'tee' | 'vmsplice' | 'copy_file_range' | 'memfd_create' | 'process_vm_readv',
    Probe
  >;
  ioUring: Probe & { opcodes: { splice: boolean; tee: boolean; sendZeroCopy: boolean } };
  /**
   * The native front's engine: `available` when its io_uring engine can run here; `engine`,
   * what `serve` uses by default; `auto`, what `--engine auto` would use.
   */
  frontEngine: Probe & { engine: 'epoll' | 'io_uring'; auto: 'epoll' | 'io_uring' };
  socketZeroCopy: Probe;
  /** Whether a UDP socket takes UDP_SEGMENT (many datagrams per send). */
  udpSegmentation: Probe;
  /** How transfer() would send a Buffer into a socket (MSG_ZEROCOPY or plain), and why. */
  sendMode: SendModeProbe;
  kernelTls: Probe;
  fileSystems: { cwd: string; tmp: string };
  copyFileRangeAcrossFileSystems: Probe;
  reflink: Probe;
  pipeMaxSize: number | null;
  lockedMemoryLimit: { soft: number | 'unlimited'; hard: number | 'unlimited' } | null;
  socketOptionMemoryMax: number | null;
  /** What shared-memory channels need: a sealed memfd, process-shared futexes, pidfd (to notice dead peers). */
  channels: Probe & { sealing: Probe; futex: Probe; pidfd: Probe };
  /** Whether capture({ backend: 'xdp' }) can open its AF_XDP socket and UMEM here. */
  afXdp: Probe;
}

const errorName = (negated: number) => getSystemErrorName(negated);
const no = (detail: string, code?: string): Probe =>
  code === undefined ? { available: false, detail } : { available: false, detail, code };
const yes = (detail: string): Probe => ({ available: true, detail });

/** The EBADF trick (liburing's tests use it): on fd -1 a kernel that knows the call says EBADF, one that doesn't says ENOSYS. */
function probeCall(result: number, call: string): Probe {
  if (result === ENOSYS) return no(`${call}: the kernel does not have this call`, 'ENOSYS');
  if (result === EPERM) return no(`${call}: blocked (seccomp or policy)`, 'EPERM');
  return yes(result < 0 ? `${call}: present (probe answered ${errorName(result)})` : `${call}: present`);
}

function fileSystemOf(path: string): string {
  try {
    return fileSystemName(statfsSync(path).type);
  } catch (error) {
    return `unknown (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

function readNumber(path: string): number | null {
  try {
    const value = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isNaN(value) ? null : value;
  } catch {
    return null;
  }
}

function lockedMemoryLimit(): Capabilities['lockedMemoryLimit'] {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((row) => row.startsWith('Max locked memory'));
    const [soft, hard] = line?.slice('Max locked memory'.length).trim().split(/\s+/) ?? [];
    if (soft === undefined || hard === undefined) return null;
    const parse = (value: string) => (value === 'unlimited' ? 'unlimited' : Number(value));
    return { soft: parse(soft), hard: parse(hard) };
  } catch {
    return null;
  }
}

/** Runs `probe` with a socket of its own, closed afterwards. */
function withTcpSocket(native: NativeBinding, probe: (fd: number) => Probe): Probe {
  return withSocket(native, 'TCP', probe);
}

function withSocket(native: NativeBinding, kind: 'TCP' | 'UDP', probe: (fd: number) => Probe): Probe {
  const { constants } = native;
  const type = kind === 'TCP' ? constants.SOCK_STREAM : constants.SOCK_DGRAM;
  const fd = native.socket(constants.AF_INET, type | constants.SOCK_CLOEXEC, 0);
  if (fd < 0) return no(`could not create a ${kind} socket to probe (${errorName(fd)})`, errorName(fd));
  try {
    return probe(fd);
  } finally {
    native.close(fd);
  }
}

/** Two scratch files with one byte in the source, removed afterwards; `null` if `directory` is not writable. */
function withScratchFiles<T>(directories: [string, string], use: (source: number, target: number) => T): T | null {
  const made: string[] = [];
  const fds: number[] = [];
  try {
    for (const directory of directories) made.push(mkdtempSync(join(directory, '.zerocopy-probe-')));
    const [sourceDir, targetDir] = made as [string, string];
    const source = openSync(join(sourceDir, 'source'), 'w+');
    fds.push(source);
    writeSync(source, 'z');
    const target = openSync(join(targetDir, 'target'), 'w+');
    fds.push(target);
    return use(source, target);
  } catch {
    return null;
  } finally {
    for (const fd of fds) closeSync(fd);
    for (const directory of made) rmSync(directory, { recursive: true, force: true });
  }
}

function probeCopyAcrossFileSystems(native: NativeBinding, cwdType: string, tmpType: string): Probe {
  const cwd = process.cwd();
  const result = withScratchFiles([tmpdir(), cwd], (source, target) =>
    native.copyFileRange(source, 0, target, 0, 1, 0),
  );
  if (result === null) return no(`could not write scratch files in ${tmpdir()} and ${cwd}`);
  const pair = `${tmpType} (${tmpdir()}) -> ${cwdType} (${cwd})`;
  if (result === 1) return yes(`${pair}: copied in the kernel`);
  if (result >= 0) return no(`${pair}: copied nothing`);
  return no(`${pair}: ${errorName(result)}; transfers between them copy through userspace`, errorName(result));
}

function probeReflink(native: NativeBinding, cwdType: string): Probe {
  const cwd = process.cwd();
  const result = withScratchFiles([cwd, cwd], (source, target) => native.ficlone(target, source));
  if (result === null) return no(`could not write scratch files in ${cwd}`);
  if (result === 0) return yes(`${cwdType} at ${cwd} shares extents (FICLONE)`);
  return no(`${cwdType} at ${cwd}: ${errorName(result)}`, errorName(result));
}

/** Which engine the native front would run on, and why not io_uring where it cannot. */
function probeFrontEngine(): Capabilities['frontEngine'] {
  const auto = resolveFrontEngine('auto');
  const engine = resolveFrontEngine(DEFAULT_FRONT_ENGINE as FrontEngineChoice).engine;
  const usage = `serve uses ${engine}${engine === 'epoll' ? ' unless --engine io_uring or auto' : ''}`;
  if (auto.fallback !== undefined) return { ...no(`epoll: ${auto.fallback}`), engine, auto: auto.engine };
  return { ...yes(`io_uring can run (${usage})`), engine, auto: auto.engine };
}

function probeIoUring(native: NativeBinding): Capabilities['ioUring'] {
  const { constants } = native;
  const result = native.probeIoUring();
  if (typeof result === 'number') {
    const reason = result === EPERM ? 'disabled (kernel.io_uring_disabled or seccomp)' : errorName(result);
    return {
      ...no(`io_uring_setup: ${reason}`, errorName(result)),
      opcodes: { splice: false, tee: false, sendZeroCopy: false },
    };
  }
  const has = (opcode: number | undefined) => opcode !== undefined && result.opcodes.includes(opcode);
  return {
    ...yes(`${result.opcodes.length} opcodes, features 0x${result.features.toString(16)}`),
    opcodes: {
      splice: has(constants.IORING_OP_SPLICE),
      tee: has(constants.IORING_OP_TEE),
      sendZeroCopy: has(constants.IORING_OP_SEND_ZC),
    },
  };
}

function unavailableEverywhere(reason: string): Capabilities {
  const none = no(reason);
  return {
    platform: process.platform,
    kernel: release(),
    node: process.version,
    addon: none,
    syscalls: {
      sendfile: none,
      splice: none,
      tee: none,
      vmsplice: none,
      copy_file_range: none,
      memfd_create: none,
      process_vm_readv: none,
    },
    ioUring: { ...none, opcodes: { splice: false, tee: false, sendZeroCopy: false } },
    frontEngine: { ...none, engine: 'epoll', auto: 'epoll' },
    socketZeroCopy: none,
    udpSegmentation: none,
    sendMode: sendMode(none, null),
    kernelTls: none,
    fileSystems: { cwd: 'unknown', tmp: 'unknown' },
    copyFileRangeAcrossFileSystems: none,
    reflink: none,
    pipeMaxSize: null,
    lockedMemoryLimit: null,
    socketOptionMemoryMax: null,
    channels: { ...none, sealing: none, futex: none, pidfd: none },
    afXdp: none,
  };
}

/**
 * What this kernel and file system offer, probed cheaply: each call on an invalid
 * descriptor, io_uring's opcode table, socket options on a fresh unconnected socket, and a
 * one-byte copy and clone between scratch files that are removed again.
 */
export function probeCapabilities(): Capabilities {
  const status = addonStatus();
  if (!status.available) return unavailableEverywhere(status.error.message.split('\n')[0] ?? 'addon unavailable');
  const native = binding();
  const { constants } = native;

  const memfd = native.memfdCreate('zerocopy-probe', constants.MFD_CLOEXEC);
  if (memfd >= 0) native.close(memfd);
  const cwdType = fileSystemOf(process.cwd());
  const tmpType = fileSystemOf(tmpdir());

  const capabilities: Omit<Capabilities, 'sendMode'> = {
    platform: process.platform,
    kernel: release(),
    node: process.version,
    addon: yes('loaded'),
    syscalls: {
      sendfile: probeCall(native.sendfile(-1, -1, -1, 1), 'sendfile'),
      splice: probeCall(native.splice(-1, -1, -1, -1, 1, 0), 'splice'),
      tee: probeCall(native.tee(-1, -1, 1, 0), 'tee'),
      vmsplice: probeCall(native.vmsplice(-1, [], 0), 'vmsplice'),
      copy_file_range: probeCall(native.copyFileRange(-1, -1, -1, -1, 1, 0), 'copy_file_range'),
      memfd_create: probeCall(memfd, 'memfd_create'),
      process_vm_readv: probeCall(native.processVmReadv(process.pid, [], []), 'process_vm_readv'),
    },
    ioUring: probeIoUring(native),
    frontEngine: probeFrontEngine(),
    socketZeroCopy: withTcpSocket(native, (fd) => {
      const result = native.setsockoptInt(fd, constants.SOL_SOCKET, constants.SO_ZEROCOPY, 1);
      return result === 0
        ? yes('SO_ZEROCOPY accepted on a TCP socket')
        : no(`SO_ZEROCOPY: ${errorName(result)}`, errorName(result));
    }),
    udpSegmentation: withSocket(native, 'UDP', (fd) => {
      // The socket layer's answer; a device that cannot segment still refuses at send time,
      // and transfer() then sends one datagram per call and says why.
      const result = native.setsockoptInt(fd, constants.SOL_UDP, constants.UDP_SEGMENT, 1472);
      return result === 0
        ? yes('UDP_SEGMENT accepted: transfer() into a UDP socket sends up to 64 datagrams per call')
        : no(`UDP_SEGMENT: ${errorName(result)}: one datagram per send`, errorName(result));
    }),
    kernelTls: withTcpSocket(native, (fd) => {
      // ENOENT: no "tls" upper-layer protocol in this kernel. Anything else (ENOTCONN on an
      // unconnected socket) means the module is there.
      const result = native.setsockoptBytes(fd, constants.IPPROTO_TCP, constants.TCP_ULP, Buffer.from('tls'));
      if (result === ENOENT) return no('TCP_ULP "tls" is not in this kernel: HTTPS copies through userspace', 'ENOENT');
      return result === 0 || result === ENOTCONN
        ? yes('TCP_ULP "tls" is available')
        : no(`TCP_ULP "tls": ${errorName(result)}`, errorName(result));
    }),
    fileSystems: { cwd: cwdType, tmp: tmpType },
    copyFileRangeAcrossFileSystems: probeCopyAcrossFileSystems(native, cwdType, tmpType),
    reflink: probeReflink(native, cwdType),
    pipeMaxSize: readNumber('/proc/sys/fs/pipe-max-size'),
    lockedMemoryLimit: lockedMemoryLimit(),
    socketOptionMemoryMax: readNumber('/proc/sys/net/core/optmem_max'),
    channels: probeChannels(native),
    afXdp: probeAfXdp(native),
  };
  return { ...capabilities, sendMode: sendMode(capabilities.socketZeroCopy, capabilities.socketOptionMemoryMax) };
}

function probeChannels(native: NativeBinding): Capabilities['channels'] {
  const made = native.Channel.create(64, 2, 0, 0, 1);
  if (made >= 0) native.close(made);
  const sealing =
    made >= 0
      ? yes('memfd sealed against shrinking and growing (no SIGBUS from a truncated mapping)')
      : no(`memfd with F_SEAL_SHRINK|F_SEAL_GROW: ${errorName(made)}`, errorName(made));
  const { futex: futexResult, pidfd: pidfdResult } = native.Channel.probe();
  const futex =
    futexResult === 0
      ? yes('process-shared futex wake-ups')
      : no(`futex: ${errorName(futexResult)}`, errorName(futexResult));
  const pidfd =
    pidfdResult === 0
      ? yes('pidfd_open: dead peers are noticed without pid reuse races')
      : no(`pidfd_open: ${errorName(pidfdResult)} (falls back to kill(pid, 0))`, errorName(pidfdResult));
  const channels =
    sealing.available && futex.available
      ? yes(`shared-memory channels work${pidfd.available ? '' : ' (peer deaths noticed through kill(pid, 0))'}`)
      : no('shared-memory channels need a sealable memfd and futexes', sealing.code ?? futex.code);
  return { ...channels, sealing, futex, pidfd };
}
