/**
 * Opens a bench HTML report in a real browser (headless Chromium) and takes a screenshot;
 * fails when the PNG is missing or too small to hold a rendered page.
 * Usage: node dist/bench/check-report.js [report.html] [--out shot.png]
 * Without a report path it checks the newest one (bench/results/latest.json).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { RESULTS_DIR } from './lib/paths.js';
import { run } from './lib/proc.js';

const CHROMIUM = '/usr/bin/chromium';
/** A blank or error page compresses to a few KiB; a page of charts and tables does not. */
const MIN_PNG_BYTES = 30 * 1024;

async function ensureChromium(): Promise<void> {
  if (existsSync(CHROMIUM)) return;
  process.stderr.write('check-report: installing Debian chromium (apt-get)\n');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-qq'], { timeoutMs: 180_000, env });
  const install = await run('apt-get', ['install', '-y', '-qq', 'chromium'], { timeoutMs: 600_000, env });
  if (!existsSync(CHROMIUM)) throw new Error(`apt-get install chromium failed: ${install.stderr.trim().slice(-400)}`);
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    args: process.argv.slice(2),
    options: { out: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  let report = positionals[0];
  if (report === undefined) {
    const latest = join(RESULTS_DIR, 'latest.json');
    if (!existsSync(latest))
      throw new Error('no report given and bench/results/latest.json is missing: run the bench first');
    report = (JSON.parse(readFileSync(latest, 'utf8')) as { html: string }).html;
  }
  report = resolve(report);
  if (!existsSync(report)) throw new Error(`${report} does not exist`);
  const png = resolve(values.out ?? report.replace(/\.html$/, '.png'));
  rmSync(png, { force: true });
  await ensureChromium();
  const profile = mkdtempSync(join(tmpdir(), 'zerocopy-chromium-'));
  try {
    const result = await run(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        `--user-data-dir=${profile}`,
        `--screenshot=${png}`,
        '--window-size=1280,2000',
        pathToFileURL(report).href,
      ],
      { timeoutMs: 120_000 },
    );
    if (result.timedOut) throw new Error('chromium did not finish within 120 s');
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
  if (!existsSync(png)) throw new Error(`chromium wrote no screenshot (${png})`);
  const size = statSync(png).size;
  if (size < MIN_PNG_BYTES) throw new Error(`the screenshot is only ${size} bytes: the page did not render (${png})`);
  process.stdout.write(`check-report: ${png} (${Math.round(size / 1024)} KiB) from ${report}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`check-report: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
