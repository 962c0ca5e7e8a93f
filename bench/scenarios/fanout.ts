// Scenario "fanout": one live source to many loopback TCP readers (C readers that discard):
// fanout() against Node's stream fan-out and a C read+write loop; zerocopy tee against GNU
// tee into pipes and into files; one slow reader among 16 under 'drop'.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { formatBytes, testFile, warmPageCache } from '../lib/files.js';
import { buildGroup, interleave } from '../lib/group.js';
import { CACHE_DIR, CLI_MAIN, LIBRARY_INDEX, PEERS_DIR, WORKERS_DIR } from '../lib/paths.js';
import { freePort, killTree, lastJson, run, track, which } from '../lib/proc.js';
import type { Context, Group, Metric, Row, Sample, Scenario, Skip } from '../lib/types.js';

const FANOUT_METRICS: Metric[] = [
  { key: 'cpuPerGb', label: 'CPU per GB delivered', unit: 's/GB', better: 'lower', chart: true },
  { key: 'totalGbps', label: 'Total throughput', unit: 'GB/s', better: 'higher', chart: true },
  { key: 'perDestinationGbps', label: 'Throughput per destination', unit: 'GB/s', better: 'higher' },
  { key: 'cpuS', label: 'CPU (user+sys)', unit: 's', better: 'lower' },
  { key: 'userS', label: 'User CPU', unit: 's', better: 'lower' },
  { key: 'sysS', label: 'System CPU', unit: 's', better: 'lower' },
];

const TEE_METRICS: Metric[] = [
  { key: 'gbps', label: 'Throughput', unit: 'GB/s', better: 'higher', chart: true },
  { key: 'cpuS', label: 'CPU (user+sys)', unit: 's', better: 'lower', chart: true },
  { key: 'wallS', label: 'Time', unit: 's', better: 'lower' },
];

const SLOW_METRICS: Metric[] = [
  { key: 'fastGbps', label: 'Throughput per fast reader', unit: 'GB/s', better: 'higher', chart: true },
  { key: 'cpuPerGb', label: 'CPU per GB delivered', unit: 's/GB', better: 'lower' },
  { key: 'slowMb', label: 'Bytes the slow reader got', unit: 'MB', better: 'lower' },
];

type Peer = string;

async function buildPeer(skipped: Skip[]): Promise<Peer | null> {
  const cc = which('cc') ?? which('gcc');
  if (cc === null) {
    skipped.push({ contender: 'the whole scenario (C readers)', reason: 'no C compiler (cc)' });
    return null;
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  const source = join(PEERS_DIR, 'fanout.c');
  const binary = join(CACHE_DIR, 'fanout');
  if (existsSync(binary) && statSync(binary).mtimeMs > statSync(source).mtimeMs) return binary;
  const result = await run(cc, ['-O2', '-Wall', '-o', binary, source], { timeoutMs: 60_000 });
  if (result.code !== 0) {
    skipped.push({
      contender: 'the whole scenario',
      reason: `cc failed on bench/peers/fanout.c: ${result.stderr.slice(0, 300)}`,
    });
    return null;
  }
  return binary;
}

/** The C readers: listening, and the bytes each got once all have closed. */
async function startReaders(peer: Peer, port: number, count: number, slow?: { index: number; rate: number }) {
  const args = ['discard', String(port), String(count), ...(slow ? [String(slow.index), String(slow.rate)] : [])];
  const child: ChildProcess = spawn(peer, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  await new Promise<void>((resolve, reject) => {
    const check = () => (out.includes('ready') ? resolve() : undefined);
    child.stdout?.on('data', check);
    child.once('exit', () => reject(new Error('the C readers exited before listening')));
  });
  const done = new Promise<number[]>((resolve) => {
    child.once('close', () => resolve((lastJson(out)?.bytes as number[] | undefined) ?? []));
  });
  return { done, kill: () => killTree(child.pid) };
}

interface FanContender {
  id: string;
  label: string;
  kind: Row['kind'];
  command(peer: Peer, port: number, count: number): string;
}

const node = process.execPath;
const worker = join(WORKERS_DIR, 'fanout.js');

const FAN_CONTENDERS: FanContender[] = [
  {
    id: 'c-rw',
    label: 'C read+write loop (1 MiB chunks)',
    kind: 'c',
    command: (peer, port, n) => `${peer} rw ${port} ${n}`,
  },
  {
    id: 'node-stream',
    label: 'Node stream fan-out (stdin.pipe() to each)',
    kind: 'node',
    command: (_peer, port, n) => `${node} ${worker} stream ${port} ${n} ${LIBRARY_INDEX}`,
  },
  {
    id: 'zerocopy',
    label: 'fanout() (tee + splice)',
    kind: 'zerocopy',
    command: (_peer, port, n) => `${node} ${worker} zerocopy ${port} ${n} ${LIBRARY_INDEX}`,
  },
];

async function fanTrial(
  peer: Peer,
  command: (port: number) => string,
  file: string,
  size: number,
  count: number,
  timeoutMs: number,
  slow?: { index: number; rate: number },
): Promise<{ sample: Sample; detail?: string; bytes: number[] }> {
  const port = await freePort();
  const readers = await startReaders(peer, port, count, slow);
  try {
    const result = await run('bash', ['-c', `${peer} produce ${file} | ${command(port)}`], { timeoutMs });
    if (result.timedOut) throw new Error(`timed out after ${timeoutMs / 1000} s`);
    const json = lastJson(result.stdout);
    if (result.code !== 0 || json === null)
      throw new Error(`exit ${result.code ?? result.signal}: ${(result.stderr || result.stdout).trim().slice(-300)}`);
    const bytes = await readers.done;
    bytes.forEach((got, i) => {
      if (i !== slow?.index && got !== size) throw new Error(`reader ${i} got ${got} bytes of ${size}`);
    });
    const num = (key: string) => (typeof json[key] === 'number' ? (json[key] as number) : Number.NaN);
    const wallS = num('wallNs') / 1e9;
    const userS = num('userUs') / 1e6;
    const sysS = num('sysUs') / 1e6;
    const delivered = bytes.reduce((sum, got) => sum + got, 0);
    const sample: Sample = {
      wallS,
      userS,
      sysS,
      cpuS: userS + sysS,
      cpuPerGb: (userS + sysS) / (delivered / 1e9),
      totalGbps: delivered / wallS / 1e9,
      perDestinationGbps: size / wallS / 1e9,
    };
    return typeof json.detail === 'string' && json.detail !== ''
      ? { sample, detail: json.detail, bytes }
      : { sample, bytes };
  } finally {
    readers.kill();
  }
}

async function teeTrial(
  peer: Peer,
  teeCommand: string,
  file: string,
  size: number,
  into: 'pipes' | 'files',
  dir: string,
  timeoutMs: number,
): Promise<Sample> {
  const outs = [join(dir, 'tee-a'), join(dir, 'tee-b')];
  const line =
    into === 'pipes'
      ? `${peer} produce ${file} | ${peer} time ${teeCommand} /dev/fd/3 3> >(${peer} drain) | ${peer} drain`
      : `${peer} produce ${file} | ${peer} time ${teeCommand} ${outs[0]} ${outs[1]} > /dev/null`;
  try {
    const result = await run('bash', ['-c', line], { timeoutMs });
    const json = lastJson(result.stderr);
    if (result.timedOut || json === null || json.exitCode !== 0)
      throw new Error(`exit ${result.code ?? result.signal}: ${result.stderr.trim().slice(-300)}`);
    if (into === 'files') for (const out of outs) if (statSync(out).size !== size) throw new Error(`${out} is short`);
    const wallS = (json.wallNs as number) / 1e9;
    const cpuS = ((json.userUs as number) + (json.sysUs as number)) / 1e6;
    return { wallS, cpuS, gbps: size / wallS / 1e9 };
  } finally {
    for (const out of outs) rmSync(out, { force: true });
  }
}

export const fanoutScenario: Scenario = {
  id: 'fanout',
  title: '8. Fan-out: one live stream to many readers (tee)',
  description:
    'A page-cached file spliced into a pipe by a C producer is the live source. It goes to 1, 4, 16 and 64 ' +
    "loopback TCP connections whose C readers discard what they read, by fanout() (tee + splice), by Node's " +
    'stream fan-out (stdin.pipe() to each socket) and by a C loop that reads 1 MiB and writes it to each ' +
    "socket. CPU is the fan-out process's own (getrusage), per GB delivered to all readers. Then zerocopy tee " +
    'against GNU tee into two pipes and into two files, and one slow reader among 16 under the drop policy.',
  async run(ctx: Context) {
    const { quick } = ctx.options;
    const skipped: Skip[] = [];
    const notes: string[] = [];
    const groups: Group[] = [];
    const peer = await buildPeer(skipped);
    if (peer === null) return { groups, skipped, notes };
    const size = quick ? 64 << 20 : 1024 ** 3;
    const counts = quick ? [1, 16] : [1, 4, 16, 64];
    const repeats = quick ? 1 : 3;
    const timeoutMs = quick ? 60_000 : 300_000;
    ctx.progress.plan(counts.length * FAN_CONTENDERS.length * repeats + 4 * repeats + 2 * repeats);
    const file = testFile(ctx.dataDir, `fanout-${size}.bin`, size);
    warmPageCache(file);
    if (quick) notes.push(`--quick: ${formatBytes(size)}, ${counts.join(' and ')} readers, one repeat.`);

    for (const count of counts) {
      const samples = new Map<string, Sample[]>();
      const details = new Map<string, string>();
      for (const { contender, repeat } of interleave(FAN_CONTENDERS, repeats)) {
        ctx.progress.step(`${contender.label} to ${count} readers (repeat ${repeat + 1}/${repeats})`);
        try {
          const command = (port: number) => contender.command(peer, port, count);
          const out = await fanTrial(peer, command, file, size, count, timeoutMs);
          samples.set(contender.id, [...(samples.get(contender.id) ?? []), out.sample]);
          if (out.detail !== undefined) details.set(contender.id, out.detail);
        } catch (error) {
          notes.push(`${contender.label}, ${count} readers, repeat ${repeat + 1}: ${(error as Error).message}`);
        }
      }
      groups.push(
        buildGroup(
          `fanout-${count}`,
          `${formatBytes(size)} live to ${count} TCP reader${count === 1 ? '' : 's'}`,
          'node-stream',
          FANOUT_METRICS,
          FAN_CONTENDERS.map((c) => {
            const input = { id: c.id, label: c.label, kind: c.kind, samples: samples.get(c.id) ?? [] };
            const detail = details.get(c.id);
            return detail === undefined ? input : { ...input, detail };
          }),
          ["Ratios against Node's stream fan-out in the same run (>1 is better)."],
        ),
      );
    }

    // zerocopy tee against GNU tee.
    const teeDir = join(ctx.dataDir, 'fanout-tee');
    mkdirSync(teeDir, { recursive: true });
    for (const into of ['pipes', 'files'] as const) {
      const contenders = [
        { id: 'gnu-tee', label: 'GNU tee', kind: 'c' as const, command: 'tee' },
        { id: 'zerocopy-tee', label: 'zerocopy tee', kind: 'zerocopy' as const, command: `${node} ${CLI_MAIN} tee` },
      ];
      const samples = new Map<string, Sample[]>();
      for (const { contender, repeat } of interleave(contenders, repeats)) {
        ctx.progress.step(`${contender.label} into ${into} (repeat ${repeat + 1}/${repeats})`);
        try {
          const sample = await teeTrial(peer, contender.command, file, size, into, teeDir, timeoutMs);
          samples.set(contender.id, [...(samples.get(contender.id) ?? []), sample]);
        } catch (error) {
          notes.push(`${contender.label} into ${into}, repeat ${repeat + 1}: ${(error as Error).message}`);
        }
      }
      groups.push(
        buildGroup(
          `tee-${into}`,
          `tee: ${formatBytes(size)} from a pipe into ${into === 'pipes' ? 'standard output and a pipe' : 'two files'}`,
          'gnu-tee',
          TEE_METRICS,
          contenders.map((c) => ({ id: c.id, label: c.label, kind: c.kind, samples: samples.get(c.id) ?? [] })),
          ["The whole program is timed (start-up included), from the C peer's wait4 rusage."],
        ),
      );
    }

    // One slow reader among 16 under 'drop': the others' throughput, against none slow.
    const slowRows: { id: string; label: string; slow?: { index: number; rate: number } }[] = [
      { id: 'none-slow', label: 'fanout() drop, 16 readers, none slow' },
      { id: 'one-slow', label: 'fanout() drop, 16 readers, one at 2 MB/s', slow: { index: 15, rate: 2_000_000 } },
    ];
    const slowSamples = new Map<string, Sample[]>();
    const slowDetails = new Map<string, string>();
    for (const { contender, repeat } of interleave(slowRows, repeats)) {
      ctx.progress.step(`${contender.label} (repeat ${repeat + 1}/${repeats})`);
      try {
        const command = (port: number) => `${node} ${worker} zerocopy ${port} 16 ${LIBRARY_INDEX} drop ${4 << 20}`;
        const out = await fanTrial(peer, command, file, size, 16, timeoutMs, contender.slow);
        const sample = {
          ...out.sample,
          fastGbps: out.sample.perDestinationGbps ?? Number.NaN,
          slowMb: (out.bytes[15] ?? 0) / 1e6,
        };
        slowSamples.set(contender.id, [...(slowSamples.get(contender.id) ?? []), sample]);
        if (out.detail !== undefined) slowDetails.set(contender.id, out.detail);
      } catch (error) {
        notes.push(`${contender.label}, repeat ${repeat + 1}: ${(error as Error).message}`);
      }
    }
    groups.push(
      buildGroup(
        'fanout-slow',
        'One slow reader among 16, policy drop (lag limit 4 MiB)',
        'none-slow',
        SLOW_METRICS,
        slowRows.map((row) => {
          const input = {
            id: row.id,
            label: row.label,
            kind: 'zerocopy' as const,
            samples: slowSamples.get(row.id) ?? [],
          };
          const detail = slowDetails.get(row.id);
          return detail === undefined ? input : { ...input, detail };
        }),
        ["A ratio near 1 for the fast readers' throughput: the slow one was dropped and did not hold them back."],
      ),
    );
    return { groups, skipped, notes };
  },
};
