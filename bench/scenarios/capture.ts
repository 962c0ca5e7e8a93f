// Scenario "capture": packets from a veth pair between two network namespaces, written by a C
// generator (sendmmsg on AF_PACKET) at fixed rates and flat out, captured on the other end by
// zerocopy capture -w, tcpdump -w (same directory) and capture() counting in JavaScript.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { buildGroup, interleave } from '../lib/group.js';
import { BENCH_DIR, CACHE_DIR, CLI_MAIN, LIBRARY_INDEX, PEERS_DIR, WORKERS_DIR } from '../lib/paths.js';
import { killTree, procUsage, run, track, usageDelta, which } from '../lib/proc.js';
import type { Context, Group, Metric, Row, Sample, Scenario, Skip } from '../lib/types.js';

const METRICS: Metric[] = [
  { key: 'capturedPps', label: 'Packets captured per second', unit: 'pkt/s', better: 'higher', chart: true },
  { key: 'dropPercent', label: 'Dropped (of those sent)', unit: '%', better: 'lower', chart: true },
  { key: 'cpuPerMillion', label: 'CPU per million packets captured', unit: 's', better: 'lower', chart: true },
  { key: 'kernelDrops', label: 'Dropped by kernel (ring full)', unit: 'pkt', better: 'lower' },
  { key: 'cpuS', label: 'CPU of the capturing process', unit: 's', better: 'lower' },
];

/** Frame size of the load: small frames are what makes capture hard. */
const FRAME_BYTES = 128;
/** Ring (or tcpdump -B) size for every contender: 32 MiB. */
const BUFFER_KIB = 32 * 1024;

interface Rig {
  sender: string;
  receiver: string;
  senderInterface: string;
  receiverInterface: string;
  remove(): void;
}

function makeRig(skipped: Skip[]): Rig | null {
  if (process.getuid?.() !== 0) {
    skipped.push({ contender: 'the whole scenario', reason: 'network namespaces need root' });
    return null;
  }
  const id = `b${process.pid % 100000}`;
  const rig: Rig = {
    sender: `zc-cap-${id}-s`,
    receiver: `zc-cap-${id}-r`,
    senderInterface: `zbs${id}`,
    receiverInterface: `zbr${id}`,
    remove() {
      spawnSync('ip', ['netns', 'del', this.sender]);
      spawnSync('ip', ['netns', 'del', this.receiver]);
    },
  };
  const steps = [
    ['netns', 'add', rig.sender],
    ['netns', 'add', rig.receiver],
    ['netns', 'exec', rig.sender, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'],
    ['netns', 'exec', rig.receiver, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1'],
    ['netns', 'exec', rig.sender, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1'],
    ['netns', 'exec', rig.receiver, 'sysctl', '-qw', 'net.ipv6.conf.default.disable_ipv6=1'],
    [
      'link',
      'add',
      rig.senderInterface,
      'netns',
      rig.sender,
      'type',
      'veth',
      'peer',
      'name',
      rig.receiverInterface,
      'netns',
      rig.receiver,
    ],
    ['-n', rig.sender, 'link', 'set', rig.senderInterface, 'up'],
    ['-n', rig.receiver, 'link', 'set', rig.receiverInterface, 'up'],
  ];
  for (const step of steps) {
    const result = spawnSync('ip', step, { encoding: 'utf8' });
    if (result.status !== 0) {
      rig.remove();
      skipped.push({ contender: 'the whole scenario', reason: `ip ${step.join(' ')}: ${result.stderr.trim()}` });
      return null;
    }
  }
  return rig;
}

async function buildGenerator(skipped: Skip[]): Promise<string | null> {
  const cc = which('cc') ?? which('gcc');
  if (cc === null) {
    skipped.push({ contender: 'the whole scenario', reason: 'no C compiler for bench/peers/packet-gen.c' });
    return null;
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  const source = join(PEERS_DIR, 'packet-gen.c');
  const binary = join(CACHE_DIR, 'packet-gen');
  if (existsSync(binary) && statSync(binary).mtimeMs > statSync(source).mtimeMs) return binary;
  const result = await run(cc, ['-O2', '-Wall', '-o', binary, source], { timeoutMs: 60_000 });
  if (result.code !== 0) {
    skipped.push({
      contender: 'the whole scenario',
      reason: `cc failed on packet-gen.c: ${result.stderr.slice(0, 300)}`,
    });
    return null;
  }
  return binary;
}

interface Contender {
  id: string;
  label: string;
  kind: Row['kind'];
  command(rig: Rig, file: string): string[];
}

const blocks = String(BUFFER_KIB / 1024);
const CONTENDERS: Contender[] = [
  {
    id: 'tcpdump',
    label: 'tcpdump -w (libpcap, TPACKET_V3)',
    kind: 'peer',
    command: (rig, file) => [
      'tcpdump',
      '-i',
      rig.receiverInterface,
      '-Q',
      'in',
      '-n',
      '-B',
      String(BUFFER_KIB),
      '-w',
      file,
    ],
  },
  {
    id: 'zerocopy-w',
    label: 'zerocopy capture -w',
    kind: 'zerocopy',
    command: (rig, file) => [
      process.execPath,
      CLI_MAIN,
      'capture',
      '-i',
      rig.receiverInterface,
      '-Q',
      'in',
      '-B',
      String(BUFFER_KIB),
      '-w',
      file,
    ],
  },
  {
    id: 'capture-js',
    label: 'capture() counting packets in JavaScript',
    kind: 'zerocopy',
    command: (rig) => [
      process.execPath,
      join(WORKERS_DIR, 'capture-count.js'),
      LIBRARY_INDEX,
      rig.receiverInterface,
      blocks,
    ],
  },
];

const PCAP_LABEL = "npm 'pcap' package (libpcap binding), counting in JavaScript";

function pcapContender(moduleDir: string): Contender {
  return {
    id: 'npm-pcap',
    label: PCAP_LABEL,
    kind: 'peer',
    command: (rig) => [
      process.execPath,
      join(WORKERS_DIR, 'capture-pcap.js'),
      moduleDir,
      rig.receiverInterface,
      String(BUFFER_KIB * 1024),
    ],
  };
}

/**
 * The npm 'pcap' package, built here: it needs libpcap's headers (libpcap-dev, installed
 * with apt-get when missing) and npm may not have run its install script. Its directory, or
 * why it cannot be measured.
 */
async function preparePcapPackage(ctx: Context): Promise<{ dir: string } | { reason: string }> {
  const moduleDir = join(BENCH_DIR, 'node_modules', 'pcap');
  if (!existsSync(join(moduleDir, 'package.json')))
    return { reason: "bench/node_modules has no 'pcap' (npm install --prefix bench)" };
  if (existsSync(join(moduleDir, 'build', 'Release', 'pcap_binding.node'))) return { dir: moduleDir };
  if (!existsSync('/usr/include/pcap/pcap.h')) {
    if (which('apt-get') === null || process.getuid?.() !== 0)
      return { reason: 'libpcap-dev is missing and cannot be installed here' };
    ctx.progress.log('installing libpcap-dev for the npm pcap package (apt-get)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'libpcap-dev'], {
      timeoutMs: 180_000,
      env,
    });
    if (install.code !== 0)
      return { reason: `apt-get install libpcap-dev failed: ${install.stderr.trim().slice(-200)}` };
  }
  // npm's own node-gyp, against this Node's installed headers where they are (nothing to download).
  const npmGyp = join(
    dirname(dirname(process.execPath)),
    'lib',
    'node_modules',
    'npm',
    'node_modules',
    'node-gyp',
    'bin',
    'node-gyp.js',
  );
  const nodeGyp = process.env.npm_config_node_gyp ?? npmGyp;
  const prefix = dirname(dirname(process.execPath));
  const nodedir = existsSync(join(prefix, 'include', 'node', 'node.h')) ? [`--nodedir=${prefix}`] : [];
  ctx.progress.log('building the npm pcap package (node-gyp)');
  const build = await run(process.execPath, [nodeGyp, 'rebuild', ...nodedir], { timeoutMs: 240_000, cwd: moduleDir });
  if (build.code !== 0)
    return { reason: `node-gyp could not build it: ${(build.stderr || build.stdout).trim().slice(-200)}` };
  return { dir: moduleDir };
}

/** Starts a capturing command in the receiver namespace; resolves once it says it listens. */
async function startCapture(
  rig: Rig,
  command: string[],
): Promise<{ child: ChildProcess; stderr: () => string; closed: Promise<void> }> {
  // `ip netns exec` execs the command itself: the PID is the capturing process's.
  const child = spawn('ip', ['netns', 'exec', rig.receiver, ...command], { stdio: ['ignore', 'ignore', 'pipe'] });
  track(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!stderr.includes('listening on') && child.exitCode === null && Date.now() < deadline) await sleep(20);
  if (!stderr.includes('listening on')) {
    killTree(child.pid);
    throw new Error(`did not start: ${stderr.trim().slice(-300)}`);
  }
  return { child, stderr: () => stderr, closed };
}

function count(stderr: string, what: string): number {
  return Number(new RegExp(`^(\\d+) packets? ${what}$`, 'm').exec(stderr)?.[1] ?? Number.NaN);
}

async function trial(
  rig: Rig,
  generator: string,
  contender: Contender,
  file: string,
  packets: number,
  rate: number,
): Promise<Sample> {
  const started = await startCapture(rig, contender.command(rig, file));
  const pid = started.child.pid ?? 0;
  try {
    const before = procUsage(pid);
    const sent = await run(
      'ip',
      [
        'netns',
        'exec',
        rig.sender,
        generator,
        rig.senderInterface,
        String(packets),
        String(FRAME_BYTES),
        String(rate),
        '8',
      ],
      { timeoutMs: 120_000 },
    );
    const [, , seconds] = sent.stdout.trim().split(' ');
    if (sent.code !== 0 || seconds === undefined) throw new Error(`packet-gen: ${sent.stderr.trim()}`);
    // Part-filled blocks are handed over after 200 ms (tcpdump's after 1 s): let the last ones reach the file.
    await sleep(1500);
    const usage = usageDelta(procUsage(pid), before);
    started.child.kill('SIGINT');
    const timer = setTimeout(() => killTree(pid), 15_000);
    await started.closed;
    clearTimeout(timer);
    const stderr = started.stderr();
    const captured = count(stderr, 'captured');
    const kernelDrops = count(stderr, 'dropped by kernel');
    if (!Number.isFinite(captured)) throw new Error(`no counts on exit: ${stderr.trim().slice(-300)}`);
    const cpuS = usage.userS + usage.sysS;
    return {
      capturedPps: captured / Number(seconds),
      dropPercent: (100 * (packets - captured)) / packets,
      kernelDrops,
      cpuS,
      cpuPerMillion: cpuS / (captured / 1e6),
    };
  } finally {
    killTree(pid);
    rmSync(file, { force: true });
  }
}

export const captureScenario: Scenario = {
  id: 'capture',
  title: '10. Packet capture from a mapped ring (TPACKET_V3)',
  description:
    `${FRAME_BYTES}-byte Ethernet frames from a C generator (sendmmsg on an AF_PACKET socket) cross a veth pair ` +
    'between two network namespaces; the capturing program reads the receiving end with a ' +
    `${BUFFER_KIB / 1024} MiB ring. zerocopy capture -w and tcpdump -w write pcap files to the same directory; ` +
    "capture() counts packets in JavaScript, and so does the npm 'pcap' package (libpcap) where it builds. " +
    'At fixed rates, then flat out: packets captured per second, ' +
    "drops (of those sent, and counted by the kernel), and the capturing process's CPU per million packets " +
    '(user+sys from /proc, start-up excluded).',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    const groups: Group[] = [];
    const contenders = CONTENDERS.filter((contender) => {
      if (contender.id === 'tcpdump' && which('tcpdump') === null) {
        skipped.push({ contender: contender.label, reason: 'tcpdump is not installed' });
        return false;
      }
      return true;
    });
    const pcapPackage = await preparePcapPackage(ctx);
    if ('reason' in pcapPackage) skipped.push({ contender: PCAP_LABEL, reason: pcapPackage.reason });
    else contenders.push(pcapContender(pcapPackage.dir));
    const generator = await buildGenerator(skipped);
    if (generator === null) return { groups, skipped, notes };
    const rig = makeRig(skipped);
    if (rig === null) return { groups, skipped, notes };
    const rates = quick ? [50_000, 0] : [100_000, 200_000, 400_000, 800_000, 0];
    const seconds = quick ? 1 : 3;
    const repeats = quick ? 1 : 3;
    ctx.progress.plan(rates.length * contenders.length * repeats);
    if (quick) notes.push('--quick: 50k packets/s and flat out, 1 s of load, one repeat.');
    const directory = join(ctx.workDir, 'capture');
    mkdirSync(directory, { recursive: true });
    try {
      for (const rate of rates) {
        const packets = rate === 0 ? (quick ? 200_000 : 2_000_000) : rate * seconds;
        const samples = new Map<string, Sample[]>();
        for (const { contender, repeat } of interleave(contenders, repeats)) {
          const label = rate === 0 ? 'flat out' : `${rate / 1000}k packets/s`;
          ctx.progress.step(`${contender.label}, ${label} (repeat ${repeat + 1}/${repeats})`);
          try {
            const sample = await trial(
              rig,
              generator,
              contender,
              join(directory, `${contender.id}.pcap`),
              packets,
              rate,
            );
            samples.set(contender.id, [...(samples.get(contender.id) ?? []), sample]);
          } catch (error) {
            notes.push(`${contender.label}, ${label}, repeat ${repeat + 1}: ${(error as Error).message}`);
          }
        }
        groups.push(
          buildGroup(
            `capture-${rate === 0 ? 'max' : rate}`,
            rate === 0
              ? `${packets} frames of ${FRAME_BYTES} bytes, flat out`
              : `${packets} frames of ${FRAME_BYTES} bytes at ${rate / 1000}k packets/s`,
            contenders.some((c) => c.id === 'tcpdump') ? 'tcpdump' : 'zerocopy-w',
            METRICS,
            contenders.map((c) => ({ id: c.id, label: c.label, kind: c.kind, samples: samples.get(c.id) ?? [] })),
            [
              'The zero-drop rate of a contender is the highest fixed rate where its drops are 0; ratios against ' +
                'tcpdump in the same run (>1 is better).',
            ],
          ),
        );
      }
    } finally {
      rig.remove();
    }
    return { groups, skipped, notes };
  },
};
