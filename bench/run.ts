/**
 * zerocopy's benchmark runner: `npm run bench -- [scenario...] [--quick] [--json]`.
 * Finds or installs its peers, runs each scenario's trials in fresh processes, and writes
 * bench/results/<timestamp>.json and .html. Progress goes to stderr; the summary table (or
 * with --json the JSON document) to stdout.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';

import { fmt, times } from './lib/group.js';
import { describeMachine } from './lib/machine.js';
import { RESULTS_DIR, ROOT } from './lib/paths.js';
import { killAll } from './lib/proc.js';
import { ProgressReporter } from './lib/progress.js';
import { prepareTools } from './lib/setup.js';
import type { Context, ScenarioResult } from './lib/types.js';
import { renderHtml } from './report/html.js';
import { type RunReport, toolSummary } from './report/json.js';
import { SCENARIOS } from './scenarios/index.js';

const USAGE = `Usage: npm run bench -- [scenario...] [--quick] [--json]
       zerocopy bench [scenario...] [--quick] [--json]

Scenarios: ${SCENARIOS.map((s) => s.id).join(', ')} (default: all)
  --quick   a short smoke run: small files, one repeat (what CI runs)
  --json    print the JSON report on stdout instead of the summary table
  --render FILE.json   redraw FILE.html from an earlier run's JSON, measuring nothing
`;

/** Rough seconds per scenario, for the time-left estimate before a scenario has started. */
const ESTIMATE_S: Record<string, [quick: number, full: number]> = {
  classic: [15, 150],
  small: [25, 300],
  http: [45, 470],
  web: [20, 150],
  loop: [20, 120],
  proxy: [25, 150],
  cp: [30, 240],
  ipc: [60, 600],
};

function summaryTable(results: ScenarioResult[]): string {
  const lines: string[] = [];
  for (const result of results) {
    lines.push('', `== ${result.title}`);
    for (const h of result.headline ?? []) lines.push(`  * ${h}`);
    for (const group of result.groups) {
      lines.push(`  -- ${group.title}`);
      const charted = group.metrics.filter((m) => m.chart);
      const header = [
        'contender'.padEnd(42),
        ...charted.flatMap((m) => [`${m.label} (${m.unit})`.padStart(24), 'ratio'.padStart(7)]),
      ];
      lines.push(`  ${header.join(' ')}`);
      for (const row of group.rows) {
        const cells = charted.flatMap((m) => {
          const s = row.summary[m.key];
          const spread = s && s.n > 1 ? ` [${fmt(s.min)}–${fmt(s.max)}]` : '';
          return [
            `${fmt(s?.median)}${spread}`.padStart(24),
            (row.id === group.baseline ? 'base' : `${times(row.ratios[m.key])}`).padStart(7),
          ];
        });
        lines.push(`  ${row.label.slice(0, 42).padEnd(42)} ${cells.join(' ')}`);
      }
    }
    for (const claim of result.claims ?? [])
      lines.push(`  claim: ${claim.claim}: published ${claim.published}; here ${claim.ours} [${claim.verdict}]`);
    for (const skip of result.skipped) lines.push(`  SKIPPED ${skip.contender}: ${skip.reason}`);
    for (const note of result.notes) lines.push(`  note: ${note}`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      render: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
  if (values.render !== undefined) {
    // Redraw the HTML of an earlier run from its JSON (after a change to the report), measuring nothing.
    const report = JSON.parse(readFileSync(values.render, 'utf8')) as RunReport;
    const htmlPath = values.render.replace(/\.json$/, '.html');
    writeFileSync(htmlPath, renderHtml(report));
    log(`wrote ${htmlPath}`);
    return 0;
  }
  const unknown = positionals.filter((p) => !SCENARIOS.some((s) => s.id === p));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown scenario ${unknown.join(', ')}\n\n${USAGE}`);
    return 2;
  }
  const selected = positionals.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => positionals.includes(s.id));
  const options = { quick: values.quick === true, json: values.json === true };
  const startedAt = new Date();
  const progress = new ProgressReporter();

  log(`${options.quick ? 'quick smoke run' : 'full run'}: ${selected.map((s) => s.id).join(', ')}`);
  const tools = await prepareTools(log);
  for (const [tool, reason] of Object.entries(tools.missing)) log(`without ${tool}: ${reason}`);

  const workDir = mkdtempSync(join(tmpdir(), 'zerocopy-bench-'));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      progress.end();
      log(`interrupted (${signal}): ending the processes the bench started; no report written`);
      killAll();
      rmSync(workDir, { recursive: true, force: true });
      process.exit(130);
    });
  }
  const ctx: Context = {
    options,
    tools,
    progress,
    workDir,
    dataDir: join(tmpdir(), 'zerocopy-bench-data'),
    thresholds: {},
  };
  const results: ScenarioResult[] = [];
  let failures = 0;
  try {
    for (const [index, scenario] of selected.entries()) {
      const later = selected
        .slice(index + 1)
        .reduce((sum, s) => sum + (ESTIMATE_S[s.id]?.[options.quick ? 0 : 1] ?? 60), 0);
      progress.begin(scenario.title, index + 1, selected.length, later);
      const t0 = Date.now();
      try {
        const outcome = await scenario.run(ctx);
        results.push({
          id: scenario.id,
          title: scenario.title,
          description: scenario.description,
          ...outcome,
          durationS: (Date.now() - t0) / 1000,
        });
      } catch (error) {
        failures += 1;
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        progress.log(`scenario ${scenario.id} failed: ${message}`);
        results.push({
          id: scenario.id,
          title: scenario.title,
          description: scenario.description,
          groups: [],
          skipped: [{ contender: 'the whole scenario', reason: `failed: ${message.split('\n')[0]}` }],
          notes: [],
          durationS: (Date.now() - t0) / 1000,
        });
      }
      progress.end();
    }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }

  const report: RunReport = {
    schema: 1,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: `zerocopy bench ${process.argv.slice(2).join(' ')}`.trim(),
    options,
    machine: describeMachine(),
    tools: toolSummary(tools),
    thresholds: ctx.thresholds,
    scenarios: results,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  const jsonPath = join(RESULTS_DIR, `${stamp}.json`);
  const htmlPath = join(RESULTS_DIR, `${stamp}.html`);
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(htmlPath, renderHtml(report));
  writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify({ json: jsonPath, html: htmlPath })}\n`);

  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(summaryTable(results));
  log(`wrote ${relative(ROOT, jsonPath)} and ${relative(ROOT, htmlPath)}`);
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
