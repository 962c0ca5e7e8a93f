// What each CLI command loads: a command pays at start-up for every module it imports, so
// --help and cp must not import the HTTP server, the proxy, channels or the doctor.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pathToFileURL } from 'node:url';

import { cliEntry, runNode, tempDir } from '../support/fixtures.js';

const MARK = 'zerocopy-test-loaded ';

/** The modules (file: and node: URLs) `zerocopy ARGS` resolves, from a module resolve hook. */
async function modulesLoadedBy(t: TestContext, args: string[]): Promise<string[]> {
  const dir = tempDir(t);
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  process._rawDebug(${JSON.stringify(MARK)} + result.url);
  return result;
}
`,
  );
  const register = join(dir, 'register.mjs');
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  const result = await runNode(['--import', pathToFileURL(register).href, cliEntry, ...args]);
  assert.equal(result.code, 0, result.stderr);
  return result.stderr
    .split('\n')
    .filter((line) => line.startsWith(MARK))
    .map((line) => line.slice(MARK.length));
}

const ofProject = (urls: string[]) =>
  urls.filter((url) => url.includes('/dist/src/')).map((url) => url.slice(url.indexOf('/dist/src/') + 10));

describe('what a CLI command loads', () => {
  it('--help: main.js and nothing else of ours', async (t) => {
    const loaded = await modulesLoadedBy(t, ['--help']);
    assert.deepEqual(ofProject(loaded), ['cli/main.js']);
  });

  it('cp: the copy and the transfer engine, no HTTP, proxy, channels, doctor or node:crypto', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    const loaded = await modulesLoadedBy(t, ['cp', join(dir, 'a.txt'), join(dir, 'b.txt')]);
    const ours = ofProject(loaded);
    assert.ok(ours.includes('cli/cp.js') && ours.includes('copy/copy-file.js'), ours.join(' '));
    const unwanted = ours.filter((path) =>
      /^(http|proxy|ipc|doctor|fanout)\/|^cli\/(serve|proxy|doctor|bench)/.test(path),
    );
    assert.deepEqual(unwanted, []);
    const builtins = loaded.filter((url) => /^node:(crypto|http|https|cluster|zlib|worker_threads)$/.test(url));
    assert.deepEqual(builtins, []);
  });
});
