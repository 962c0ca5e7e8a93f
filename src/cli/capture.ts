// zerocopy capture: tcpdump's everyday flags over capture(): pcap files written from the
// ring with writev, or one line per packet, and tcpdump's counts on exit.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CaptureBatch } from '../capture/batch.js';
import { type Capture, capture } from '../capture/capture.js';
import {
  DEFAULT_BLOCK_SIZE,
  DEFAULT_BLOCK_TIMEOUT_MS,
  DEFAULT_BLOCKS,
  DEFAULT_SNAP_LENGTH,
  type RingOptions,
} from '../capture/options.js';
import { PcapWriter } from '../capture/pcap.js';
import { type BpfProgram, type CaptureDirection, parseBpfListing } from '../capture/program.js';
import { formatPacket } from './capture-format.js';

/**
 * The ring when writing a file. Printing wants lines soon: 1 MiB blocks, handed over after
 * 10 ms when not full. A file does not, and every hand-over costs a wake-up, a JavaScript
 * batch and a writev on the thread pool whatever the block holds, so blocks are larger and
 * wait longer. At 100k packets/s, CPU-s per million packets written: 0.33 with 10 ms blocks
 * of 1 MiB, 0.26 with 200 ms ones, 0.20 with 200 ms blocks of 4 MiB, as tcpdump (which waits
 * 1000 ms). 200 ms keeps the wait at exit short; 8 blocks leave the kernel most of the ring
 * while one is being written.
 */
const WRITE_BLOCK_SIZE = 4 << 20;
const WRITE_BLOCKS = 8;
const WRITE_BLOCK_TIMEOUT_MS = 200;

const USAGE = `Usage: zerocopy capture -i IFACE [-w FILE|-] [-c COUNT] [-s SNAPLEN] [-Q in|out|inout]
                        [-B KIB] [-p] [--bpf-file FILE] [--xdp[=QUEUE]] [EXPRESSION]

Captures packets from IFACE through a memory-mapped TPACKET_V3 ring: writes them to a pcap
file (nanosecond timestamps) that tcpdump -r and Wireshark read, or prints one line per packet.
On exit (COUNT packets, SIGINT or SIGTERM) prints the counts to standard error, as tcpdump does.

  -i IFACE       the interface to capture on
  -w FILE        write packets to FILE ('-': standard output) instead of printing them
  -c COUNT       stop after COUNT packets
  -s SNAPLEN     bytes kept of each packet (default ${DEFAULT_SNAP_LENGTH}; 0 means the default)
  -Q DIRECTION   in, out or inout (default): packets received, sent or both
  -B KIB         ring size in KiB, in whole blocks: of ${DEFAULT_BLOCK_SIZE >> 20} MiB (default ${(DEFAULT_BLOCKS * DEFAULT_BLOCK_SIZE) >> 20} MiB), or
                 of ${WRITE_BLOCK_SIZE >> 20} MiB with -w (default ${(WRITE_BLOCKS * WRITE_BLOCK_SIZE) >> 20} MiB)
  -p             do not put the interface into promiscuous mode
  -n             accepted for tcpdump's sake (names are never resolved)
  --bpf-file F   a compiled filter: the output of \`tcpdump -dd EXPRESSION\`
  --xdp[=QUEUE]  capture receive queue QUEUE (default 0) with AF_XDP instead: the frames are
                 TAKEN from the kernel's stack (for a mirror port or a dedicated interface)
  -h, --help     show this help

Exit status: 0 when the capture ends normally, 1 on an error (as tcpdump).
`;

/** Time left after a signal for the last block to be handed over (the kernel's timer is per jiffy). */
const DRAIN_MARGIN_MS = 100;

interface StopState {
  /** A batch is being written or printed: the ring must stay mapped. */
  busy: boolean;
  /** The drain after a signal is over (the part-filled block has been handed over by then): end. */
  drained: boolean;
}

interface CaptureArgs {
  interface: string;
  file: string | undefined;
  count: number | undefined;
  snapLength: number;
  direction: CaptureDirection;
  /** -B: the ring size asked for. */
  ringKib: number | undefined;
  promiscuous: boolean;
  filter: string | BpfProgram | undefined;
  /** --xdp: the queue to take with the AF_XDP backend. */
  xdpQueue: number | undefined;
}

function usageError(message: string): never {
  throw Object.assign(new Error(`${message}\n\n${USAGE}`), { usage: true });
}

function positiveInteger(flag: string, value: string | undefined, allowZero = false): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || (number === 0 && !allowZero)) {
    usageError(`invalid ${flag} '${value}'`);
  }
  return number;
}

function parse(given: string[]): CaptureArgs | 'help' {
  // --xdp=QUEUE: parseArgs has no optional values.
  const args = given.flatMap((arg) => (arg.startsWith('--xdp=') ? ['--xdp', `--xdp-queue=${arg.slice(6)}`] : [arg]));
  const { values, positionals } = parseArgs({
    args,
    options: {
      interface: { type: 'string', short: 'i' },
      write: { type: 'string', short: 'w' },
      count: { type: 'string', short: 'c' },
      snaplen: { type: 'string', short: 's' },
      direction: { type: 'string', short: 'Q' },
      buffer: { type: 'string', short: 'B' },
      'no-promiscuous': { type: 'boolean', short: 'p' },
      numeric: { type: 'boolean', short: 'n' },
      'bpf-file': { type: 'string' },
      xdp: { type: 'boolean' },
      'xdp-queue': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help === true) return 'help';
  if (values.interface === undefined) usageError('-i IFACE is required');
  const direction = values.direction ?? 'inout';
  if (direction !== 'in' && direction !== 'out' && direction !== 'inout') usageError(`invalid -Q '${direction}'`);
  const snapLength = positiveInteger('snaplen', values.snaplen, true) || DEFAULT_SNAP_LENGTH;
  const kib = positiveInteger('buffer size', values.buffer);
  const xdpQueue = values.xdp === true ? (positiveInteger('--xdp queue', values['xdp-queue'], true) ?? 0) : undefined;
  if (xdpQueue !== undefined && kib !== undefined) usageError('-B sizes the packet ring; --xdp has none');
  const expression = positionals.join(' ').trim();
  if (expression !== '' && values['bpf-file'] !== undefined)
    usageError('give either EXPRESSION or --bpf-file, not both');
  let filter: string | BpfProgram | undefined = expression === '' ? undefined : expression;
  if (values['bpf-file'] !== undefined) {
    filter = parseBpfListing(readFileSync(values['bpf-file'], 'utf8'));
    if (filter.length === 0) usageError(`no BPF instructions in '${values['bpf-file']}'`);
  }
  return {
    interface: values.interface,
    file: values.write,
    count: positiveInteger('count', values.count),
    snapLength: Math.min(snapLength, DEFAULT_SNAP_LENGTH),
    direction,
    ringKib: kib,
    promiscuous: values['no-promiscuous'] !== true,
    filter,
    xdpQueue,
  };
}

function ringFor(parsed: CaptureArgs): Required<RingOptions> {
  const shape =
    parsed.file === undefined
      ? { blockSize: DEFAULT_BLOCK_SIZE, blocks: DEFAULT_BLOCKS, blockTimeoutMs: DEFAULT_BLOCK_TIMEOUT_MS }
      : { blockSize: WRITE_BLOCK_SIZE, blocks: WRITE_BLOCKS, blockTimeoutMs: WRITE_BLOCK_TIMEOUT_MS };
  if (parsed.ringKib === undefined) return shape;
  return { ...shape, blocks: Math.max(1, Math.ceil((parsed.ringKib * 1024) / shape.blockSize)) };
}

/**
 * Prints or writes each batch until COUNT packets, a signal, or an error. After a signal the
 * packets the kernel already took are kept: the loop goes on for one block timeout (and a
 * margin), by which time the kernel has handed over the block that was filling. Ending at
 * the first timed-out batch instead would be quicker but wrong when the loop lags: that batch
 * may have been handed over before the signal, with the filling block still to come.
 */
async function run(session: Capture, parsed: CaptureArgs, writer: PcapWriter | undefined, stop: StopState) {
  const raw = session.linkType?.name === 'RAW';
  let captured = 0;
  for (;;) {
    const next = await session.next();
    if (next.done) break;
    const batch: CaptureBatch = next.value;
    stop.busy = true;
    const limit = parsed.count === undefined ? batch.length : Math.min(batch.length, parsed.count - captured);
    if (writer !== undefined) await writer.writeBatch(batch, limit);
    else {
      const lines: string[] = [];
      for (let i = 0; i < limit; i++) lines.push(formatPacket(batch.packet(i), raw));
      if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
    }
    captured += limit;
    batch.release();
    stop.busy = false;
    if (parsed.count !== undefined && captured >= parsed.count) break;
    if (stop.drained) break;
  }
  return captured;
}

export async function captureCommand(args: string[]): Promise<number> {
  let parsed: CaptureArgs | 'help';
  try {
    parsed = parse(args);
  } catch (error) {
    process.stderr.write(`zerocopy capture: ${(error as Error).message}\n`);
    return 1;
  }
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let session: Capture;
  const ring = ringFor(parsed);
  try {
    session = capture({
      interface: parsed.interface,
      filter: parsed.filter,
      snapLength: parsed.snapLength,
      direction: parsed.direction,
      promiscuous: parsed.promiscuous,
      ...(parsed.xdpQueue === undefined ? { ring } : { backend: 'xdp' as const, xdp: { queue: parsed.xdpQueue } }),
    });
  } catch (error) {
    process.stderr.write(`zerocopy capture: ${(error as Error).message}\n`);
    return 1;
  }
  const link = session.linkType;
  if (parsed.file !== undefined && link === undefined) {
    session.close();
    process.stderr.write(
      `zerocopy capture: ${parsed.interface}: no pcap link type for hardware type ${session.hardwareType}\n`,
    );
    return 1;
  }
  let writer: PcapWriter | undefined;
  if (parsed.file !== undefined && link !== undefined) {
    // Opened (and truncated) before capturing starts, as tcpdump does: a file that cannot be
    // written is reported before anything is captured.
    try {
      const options = { linkType: link.value, snapLength: parsed.snapLength };
      writer =
        parsed.file === '-'
          ? PcapWriter.toStream(process.stdout, options)
          : await PcapWriter.toFile(parsed.file, options);
      await writer.writeHeader();
    } catch (error) {
      session.close();
      process.stderr.write(`zerocopy capture: ${(error as Error).message}\n`);
      return 1;
    }
  }
  const linkText =
    link === undefined ? `hardware type ${session.hardwareType}` : `link-type ${link.name} (${link.description})`;
  const xdp = session.xdp;
  const backendText =
    xdp === undefined
      ? ''
      : `, AF_XDP queue ${xdp.queue} in ${xdp.mode} mode` +
        (xdp.zeroCopyRefused === undefined ? '' : ` (zero-copy refused: ${xdp.zeroCopyRefused})`) +
        ` (its frames are taken from the stack)`;
  process.stderr.write(
    `zerocopy capture: listening on ${parsed.interface}, ${linkText}, snapshot length ${parsed.snapLength} bytes${backendText}\n`,
  );
  const stop: StopState = { busy: false, drained: false };
  let drainTimer: NodeJS.Timeout | undefined;
  // A write reads the ring through views, so the session closes only between batches: in a
  // wait, at once; during a batch, run() ends the loop after it. A second signal ends the
  // drain at once.
  const endDrain = () => {
    stop.drained = true;
    if (!stop.busy) session.close();
  };
  const onSignal = () => {
    if (drainTimer !== undefined) return endDrain();
    drainTimer = setTimeout(endDrain, ring.blockTimeoutMs + DRAIN_MARGIN_MS);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let status = 0;
  let captured = 0;
  try {
    captured = await run(session, parsed, writer, stop);
  } catch (error) {
    process.stderr.write(`zerocopy capture: ${(error as Error).message}\n`);
    status = 1;
  } finally {
    clearTimeout(drainTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const stats = session.stats();
  session.close();
  try {
    await writer?.close();
  } catch (error) {
    process.stderr.write(`zerocopy capture: ${(error as Error).message}\n`);
    status = 1;
  }
  process.stderr.write(
    `\n${captured} packets captured\n${stats.received} packets received by filter\n${stats.dropped} packets dropped by kernel\n`,
  );
  return status;
}
