import type { Capabilities, Probe } from '../doctor/probe.js';
import { probeCapabilities } from '../doctor/probe.js';

function bytes(value: number | 'unlimited' | null): string {
  if (value === null) return 'unknown';
  if (value === 'unlimited') return 'unlimited';
  if (value >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(value % (1024 * 1024) === 0 ? 0 : 1)} MiB`;
  if (value >= 1024) return `${(value / 1024).toFixed(value % 1024 === 0 ? 0 : 1)} KiB`;
  return `${value} B`;
}

export function formatCapabilities(capabilities: Capabilities): string {
  const rows: Array<[string, string, string]> = [];
  const probe = (name: string, result: Probe) => rows.push([name, result.available ? 'yes' : 'no', result.detail]);
  probe('native addon', capabilities.addon);
  for (const [name, result] of Object.entries(capabilities.syscalls)) probe(name, result);
  probe('io_uring', capabilities.ioUring);
  const { opcodes } = capabilities.ioUring;
  rows.push(['  IORING_OP_SPLICE', opcodes.splice ? 'yes' : 'no', '']);
  rows.push(['  IORING_OP_TEE', opcodes.tee ? 'yes' : 'no', '']);
  rows.push(['  IORING_OP_SEND_ZC', opcodes.sendZeroCopy ? 'yes' : 'no', '']);
  probe('native front engine', capabilities.frontEngine);
  probe('SO_ZEROCOPY', capabilities.socketZeroCopy);
  probe('  send mode', capabilities.sendMode);
  probe('UDP_SEGMENT', capabilities.udpSegmentation);
  probe('kernel TLS', capabilities.kernelTls);
  probe('copy_file_range across fs', capabilities.copyFileRangeAcrossFileSystems);
  probe('reflink (FICLONE) here', capabilities.reflink);
  probe('shared-memory channels', capabilities.channels);
  probe('  memfd sealing', capabilities.channels.sealing);
  probe('  futex', capabilities.channels.futex);
  probe('  pidfd', capabilities.channels.pidfd);
  probe('AF_XDP capture', capabilities.afXdp);
  rows.push(['pipe-max-size', '', `${bytes(capabilities.pipeMaxSize)} (largest pipe F_SETPIPE_SZ grants)`]);
  const memlock = capabilities.lockedMemoryLimit;
  const memlockText = memlock ? `${bytes(memlock.soft)} soft, ${bytes(memlock.hard)} hard` : 'unknown';
  rows.push(['locked memory', '', `${memlockText} (RLIMIT_MEMLOCK)`]);
  rows.push(['optmem_max', '', `${bytes(capabilities.socketOptionMemoryMax)} (bounds MSG_ZEROCOPY sends in flight)`]);

  const width = Math.max(...rows.map(([name]) => name.length));
  const statusWidth = Math.max(...rows.map(([, status]) => status.length));
  const header = `zerocopy doctor: ${capabilities.platform} ${capabilities.kernel}, Node ${capabilities.node}, cwd on ${capabilities.fileSystems.cwd}, tmp on ${capabilities.fileSystems.tmp}`;
  return [
    header,
    '',
    ...rows.map(([name, status, detail]) =>
      `${name.padEnd(width)}  ${status.padEnd(statusWidth)}  ${detail}`.trimEnd(),
    ),
  ].join('\n');
}

export function doctor(args: { json: boolean }): number {
  const capabilities = probeCapabilities();
  process.stdout.write(
    args.json ? `${JSON.stringify(capabilities, null, 2)}\n` : `${formatCapabilities(capabilities)}\n`,
  );
  return 0;
}
