// contrib/: the systemd unit passes `systemd-analyze verify`, and the command lines of the unit
// and the Dockerfile are ones zerocopy serve accepts and runs with.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { rawRequest, startServe } from '../http/support.js';
import { cliEntry, tempDir } from '../support/fixtures.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const unitFile = join(root, 'contrib', 'zerocopy.service');
const dockerfile = join(root, 'contrib', 'Dockerfile');
/** Where `npm install -g zerocopy` puts the CLI; the unit names it. */
const INSTALLED_CLI = '/usr/local/bin/zerocopy';

async function verify(path: string): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)('systemd-analyze', ['verify', path]);
    return { code: 0, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stderr?: string };
    if (failed.code === 'ENOENT') throw error;
    return { code: typeof failed.code === 'number' ? failed.code : 1, stderr: failed.stderr ?? '' };
  }
}

async function hasSystemdAnalyze(t: TestContext): Promise<boolean> {
  try {
    await promisify(execFile)('systemd-analyze', ['--version']);
    return true;
  } catch {
    t.skip('systemd-analyze is not installed (Debian: systemd)');
    return false;
  }
}

/** The unit with its ExecStart pointing at this checkout's CLI (verify checks the program exists). */
function unitForHere(t: TestContext, text: string): string {
  const path = join(tempDir(t), 'zerocopy.service');
  writeFileSync(path, text.replace(`ExecStart=${INSTALLED_CLI}`, `ExecStart=${process.execPath} ${cliEntry}`));
  return path;
}

/** Runs `zerocopy serve` with `args` (the directory and port swapped for a temp dir and port 0) and stops it. */
async function serveWith(t: TestContext, args: string[], dir: string): Promise<void> {
  const site = tempDir(t);
  writeFileSync(join(site, 'index.html'), '<p>up</p>\n');
  const swapped = args.map((arg, i) =>
    arg === dir ? site : args[i - 1] === '--port' ? '0' : args[i - 1] === '--host' ? '127.0.0.1' : arg,
  );
  const serve = await startServe(t, swapped);
  assert.equal((await rawRequest(t, serve.port, 'GET', '/')).body.toString(), '<p>up</p>\n');
  assert.equal((await rawRequest(t, serve.port, 'GET', '/_zerocopy/status')).status, 200, 'the health check path');
  serve.child.kill('SIGTERM');
  assert.equal(await serve.exited, 0);
}

describe('contrib/zerocopy.service', () => {
  const text = readFileSync(unitFile, 'utf8');

  it('passes systemd-analyze verify with nothing to say', async (t) => {
    if (!(await hasSystemdAnalyze(t))) return;
    const result = await verify(unitForHere(t, text));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr.trim(), '', 'no warnings (verify exits 0 on unknown keys and bad values)');
  });

  it('the check sees a misspelt key and a bad value', async (t) => {
    if (!(await hasSystemdAnalyze(t))) return;
    const broken = text.replace('KillSignal=', 'KillSignl=').replace('Restart=on-failure', 'Restart=sometimes');
    const result = await verify(unitForHere(t, broken));
    assert.match(result.stderr, /Unknown key 'KillSignl'/);
    assert.match(result.stderr, /restart specifier/);
  });

  it("ExecStart's flags are ones zerocopy serve runs with", async (t) => {
    const line = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? '';
    assert.ok(line.startsWith(`${INSTALLED_CLI} serve `), line);
    const args = line.slice(INSTALLED_CLI.length).trim().split(/\s+/).slice(1);
    await serveWith(t, args, '/srv/www');
  });
});

describe('contrib/Dockerfile', () => {
  const text = readFileSync(dockerfile, 'utf8');
  const json = (instruction: string) =>
    JSON.parse(new RegExp(`^${instruction} (\\[.*\\])$`, 'm').exec(text)?.[1] ?? 'null') as string[] | null;

  it('runs the CLI the package installs, on a slim Node image', () => {
    const bin = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: { zerocopy: string } }).bin
      .zerocopy;
    assert.deepEqual(json('ENTRYPOINT'), ['node', join('/opt/zerocopy/node_modules/zerocopy', bin)]);
    const images = [...text.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]);
    assert.ok(images.length > 0 && images.every((image) => /^node:\d+-\w+-slim\b/.test(image ?? '')), String(images));
  });

  it("CMD's flags are ones zerocopy serve runs with", async (t) => {
    const command = json('CMD');
    assert.ok(command !== null && command[0] === 'serve', String(command));
    await serveWith(t, command.slice(1), '/srv/www');
  });
});
