// Scenario "startup": how long the CLI takes to start and finish a command that does almost
// nothing, against a bare Node and GNU cp, in the same run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { buildGroup, fmt, interleave, median, times } from '../lib/group.js';
import { CLI_MAIN } from '../lib/paths.js';
import { lastJson, run } from '../lib/proc.js';
import type { Claim, Context, Metric, Sample, Scenario, Skip } from '../lib/types.js';

const METRICS: Metric[] = [
  { key: 'wallMs', label: 'Time', unit: 'ms', better: 'lower', chart: true },
  { key: 'cpuMs', label: 'CPU (user+sys)', unit: 'ms', better: 'lower' },
];

const NODE = 'node-e-0';
const HELP = 'zerocopy-help';
const GNU_CP = 'gnu-cp-tiny';
const OURS_CP = 'zerocopy-cp-tiny';

interface Contender {
  id: string;
  label: string;
  kind: 'c' | 'node' | 'zerocopy';
  args(dir: string): [string, string[]];
}

const CONTENDERS: Contender[] = [
  { id: NODE, label: 'node -e 0', kind: 'node', args: () => [process.execPath, ['-e', '0']] },
  { id: HELP, label: 'zerocopy --help', kind: 'zerocopy', args: () => [process.execPath, [CLI_MAIN, '--help']] },
  {
    id: GNU_CP,
    label: 'GNU cp of a 4 KiB file',
    kind: 'c',
    args: (dir) => ['cp', [join(dir, 'tiny.bin'), join(dir, 'tiny-gnu.bin')]],
  },
  {
    id: OURS_CP,
    label: 'zerocopy cp of a 4 KiB file',
    kind: 'zerocopy',
    args: (dir) => [
      process.execPath,
      [CLI_MAIN, 'cp', '--no-progress', join(dir, 'tiny.bin'), join(dir, 'tiny-zc.bin')],
    ],
  },
];

export const startup: Scenario = {
  id: 'startup',
  title: '8. Start-up: the CLI against a bare Node and GNU cp',
  description:
    'Each command in a fresh process, timed whole by the C timer (wait4 rusage), interleaved: node -e 0, ' +
    'zerocopy --help, and a copy of a 4 KiB file by GNU cp and by zerocopy cp. What a command loads is what it ' +
    'costs here: the 2 GiB copy in the cp scenario pays this start-up once.',
  async run(ctx: Context) {
    const skipped: Skip[] = [];
    const notes: string[] = [];
    if (ctx.tools.sender === null) {
      skipped.push({ contender: 'the whole scenario (C timer)', reason: ctx.tools.missing.sender ?? 'no C sender' });
      return { groups: [], skipped, notes };
    }
    const repeats = ctx.options.quick ? 3 : 30;
    ctx.progress.plan(CONTENDERS.length * repeats);
    writeFileSync(join(ctx.workDir, 'tiny.bin'), Buffer.alloc(4096, 7));
    // One untimed run each: the module compile cache (Node 22.8+) and the page cache are warm, as for a user.
    for (const contender of CONTENDERS) {
      const [command, args] = contender.args(ctx.workDir);
      await run(command, args, { timeoutMs: 30_000 });
    }
    const samples = new Map<string, Sample[]>();
    for (const { contender, repeat } of interleave(CONTENDERS, repeats)) {
      ctx.progress.step(`${contender.label} (${repeat + 1}/${repeats})`);
      const [command, args] = contender.args(ctx.workDir);
      const result = await run(ctx.tools.sender, ['time', command, ...args], { timeoutMs: 30_000 });
      const json = lastJson(result.stdout);
      if (result.code !== 0 || json === null) {
        notes.push(`${contender.label}, run ${repeat + 1}: exit ${result.code ?? result.signal}`);
        continue;
      }
      const num = (key: string) => (typeof json[key] === 'number' ? (json[key] as number) : Number.NaN);
      const sample = { wallMs: num('wallNs') / 1e6, cpuMs: (num('userUs') + num('sysUs')) / 1e3 };
      samples.set(contender.id, [...(samples.get(contender.id) ?? []), sample]);
    }
    const group = buildGroup(
      'startup',
      `Start-up, median of ${repeats} runs each (Node ${process.version})`,
      NODE,
      METRICS,
      CONTENDERS.map((c) => ({ id: c.id, label: c.label, kind: c.kind, samples: samples.get(c.id) ?? [] })),
      ['Ratios are medians against node -e 0 in the same run (>1 is faster).'],
    );
    const wall = (id: string) => median(group, id, 'wallMs');
    const helpOverNode = (() => {
      const help = wall(HELP);
      const node = wall(NODE);
      return help === undefined || node === undefined ? undefined : help / node;
    })();
    const extraMs = (() => {
      const ours = wall(OURS_CP);
      const gnu = wall(GNU_CP);
      return ours === undefined || gnu === undefined ? undefined : ours - gnu;
    })();
    const met = helpOverNode !== undefined && helpOverNode <= 1.2;
    // zerocopy cp reaches 0.95x GNU cp once GNU cp's copy takes 19 times its extra start-up.
    const breakEvenS = extraMs === undefined ? undefined : (19 * extraMs) / 1000;
    const headline = [
      `zerocopy --help ${fmt(wall(HELP), 1)} ms against node -e 0 ${fmt(wall(NODE), 1)} ms = ${fmt(helpOverNode, 2)}x ` +
        `its time (target ≤ 1.2x: ${helpOverNode === undefined ? 'n/a' : met ? 'met' : 'NOT met'}).`,
      `zerocopy cp of a 4 KiB file ${fmt(wall(OURS_CP), 1)} ms, GNU cp ${fmt(wall(GNU_CP), 1)} ms: ` +
        `${fmt(extraMs, 1)} ms more, so zerocopy cp is ≥ 0.95x GNU cp on copies GNU cp takes ≥ ${fmt(breakEvenS, 2)} s for.`,
    ];
    const claims: Claim[] = [
      {
        claim: 'zerocopy --help against node -e 0',
        published: '≤ 1.2x the time',
        ours: `${fmt(helpOverNode, 2)}x (${times(helpOverNode === undefined ? undefined : 1 / helpOverNode)} as fast)`,
        verdict: helpOverNode === undefined ? 'n/a' : met ? 'met' : 'not met',
      },
    ];
    if (ctx.options.quick) notes.push(`--quick: ${repeats} runs each.`);
    return { groups: [group], skipped, notes, claims, headline };
  },
};
