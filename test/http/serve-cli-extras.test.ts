// zerocopy serve as `serve` users reach for it: a listing by default, --single, --cors,
// --clean-urls, serve.json (and its refusals), and the --listen forms with the URLs printed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { parseListen, urlsFor } from '../../src/cli/listen.js';
import { parseServeJson } from '../../src/cli/serve-json.js';
import { cliEntry, tempDir } from '../support/fixtures.js';
import { rawRequest, startServe } from './support.js';

function runServe(args: string[]) {
  return spawnSync(process.execPath, [cliEntry, 'serve', ...args], { encoding: 'utf8', timeout: 10_000 });
}

describe('zerocopy serve: listings, SPA, CORS, clean URLs', () => {
  it('lists a directory without an index by default; --no-listing turns it off', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.txt'), 'a');
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    const listing = await rawRequest(t, serve.port, 'GET', '/');
    assert.equal(listing.status, 200);
    assert.match(listing.body.toString(), /<a href="\/a\.txt">a\.txt<\/a>/);
    const json = await rawRequest(t, serve.port, 'GET', '/', { Accept: 'application/json' });
    assert.equal(JSON.parse(json.body.toString()).entries[0].name, 'a.txt');
    const off = await startServe(t, [dir, '--port', '0', '--log', 'off', '--no-listing']);
    assert.equal((await rawRequest(t, off.port, 'GET', '/')).status, 404);
  });

  it('--single, --cors and --clean-urls', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'index.html'), '<h1>app</h1>');
    writeFileSync(join(dir, 'about.html'), '<h1>about</h1>');
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off', '-s', '--cors', '--clean-urls']);
    const spa = await rawRequest(t, serve.port, 'GET', '/route/x', { Accept: 'text/html' });
    assert.deepEqual([spa.status, spa.body.toString()], [200, '<h1>app</h1>']);
    assert.equal((await rawRequest(t, serve.port, 'GET', '/bundle.js', { Accept: 'text/html' })).status, 404);
    assert.equal(spa.headers['access-control-allow-origin'], '*');
    const redirect = await rawRequest(t, serve.port, 'GET', '/about.html');
    assert.deepEqual([redirect.status, redirect.headers.location], [301, '/about']);
    assert.equal((await rawRequest(t, serve.port, 'GET', '/about')).body.toString(), '<h1>about</h1>');
    const listed = await startServe(t, [
      dir,
      '--port',
      '0',
      '--log',
      'off',
      '--cors',
      'https://a.example,https://b.example',
    ]);
    const allowed = await rawRequest(t, listed.port, 'GET', '/about.html', { Origin: 'https://b.example' });
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://b.example');
    assert.match(allowed.headers.vary ?? '', /Origin/);
  });
});

describe('zerocopy serve: serve.json', () => {
  it('reads serve.json from the served directory: public, rewrites, redirects, headers, cleanUrls', async (t) => {
    const dir = tempDir(t);
    mkdirSync(join(dir, 'dist'));
    writeFileSync(join(dir, 'dist', 'index.html'), '<h1>app</h1>');
    writeFileSync(join(dir, 'dist', 'about.html'), '<h1>about</h1>');
    writeFileSync(join(dir, 'dist', 'logo.png'), 'PNG');
    writeFileSync(
      join(dir, 'serve.json'),
      JSON.stringify({
        public: 'dist',
        cleanUrls: true,
        rewrites: [{ source: 'app/**', destination: '/index.html' }],
        redirects: [{ source: '/old', destination: '/about', type: 302 }],
        headers: [{ source: '**/*.png', headers: [{ key: 'Cache-Control', value: 'max-age=7200' }] }],
        directoryListing: false,
      }),
    );
    const serve = await startServe(t, [dir, '--port', '0', '--log', 'off']);
    assert.match(serve.output(), new RegExp(`${join(dir, 'dist')} at`));
    assert.equal((await rawRequest(t, serve.port, 'GET', '/app/x/y')).body.toString(), '<h1>app</h1>');
    const redirect = await rawRequest(t, serve.port, 'GET', '/old');
    assert.deepEqual([redirect.status, redirect.headers.location], [302, '/about']);
    assert.equal((await rawRequest(t, serve.port, 'GET', '/about.html')).headers.location, '/about');
    // Twice: the second may come from the native front's cached head, which must carry the header too.
    for (let i = 0; i < 2; i++) {
      assert.equal((await rawRequest(t, serve.port, 'GET', '/logo.png')).headers['cache-control'], 'max-age=7200');
    }
  });

  it('--config FILE is read instead, and a key we do not support stops the start, named', (t) => {
    const dir = tempDir(t);
    const config = join(dir, 'other.json');
    writeFileSync(config, JSON.stringify({ cleanUrls: true, compress: true }));
    const result = runServe([dir, '--port', '0', '--config', config]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /'compress' is not supported by zerocopy serve/);
    assert.match(result.stderr, /other\.json/);
    writeFileSync(join(dir, 'serve.json'), '{"trailingSlash": "yes"}');
    const bad = runServe([dir, '--port', '0']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /'trailingSlash' must be true or false/);
  });

  it('parses every documented key, and refuses what is not serve.json', () => {
    const parsed = parseServeJson(
      '/srv/site/serve.json',
      JSON.stringify({
        public: '_site',
        cleanUrls: ['/app/**'],
        rewrites: [],
        redirects: [],
        headers: [],
        directoryListing: ['/assets/**'],
        unlisted: ['.DS_Store'],
        trailingSlash: true,
        renderSingle: true,
        etag: false,
        symlinks: true,
      }),
    );
    assert.equal(parsed.dir, '/srv/site/_site');
    assert.deepEqual(parsed.extras.cleanUrls, ['/app/**']);
    assert.deepEqual(parsed.extras.listing, ['/assets/**']);
    assert.deepEqual([parsed.etag, parsed.followSymlinks, parsed.extras.renderSingle], [false, true, true]);
    assert.throws(() => parseServeJson('x.json', '[]'), /must hold a JSON object/);
    assert.throws(() => parseServeJson('x.json', '{'), /not JSON/);
    assert.throws(() => parseServeJson('x.json', '{"directoryListing": 3}'), /'directoryListing' must be/);
  });
});

describe('zerocopy serve: --listen and the URLs it prints', () => {
  it("parses serve's forms", () => {
    assert.deepEqual(parseListen('1234', '127.0.0.1'), { kind: 'tcp', host: '127.0.0.1', port: 1234 });
    assert.deepEqual(parseListen('tcp://0.0.0.0:80', 'x'), { kind: 'tcp', host: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListen('tcp://[::1]:8080', 'x'), { kind: 'tcp', host: '::1', port: 8080 });
    assert.deepEqual(parseListen('localhost:3000', 'x'), { kind: 'tcp', host: 'localhost', port: 3000 });
    assert.deepEqual(parseListen('unix:/tmp/s.sock', 'x'), { kind: 'unix', path: '/tmp/s.sock' });
    for (const bad of ['tcp://host', 'unix:', '70000', 'tcp://h:-1', 'a:b:c'])
      assert.throws(() => parseListen(bad, 'x'), /--listen/, bad);
  });

  it('lists every address for 0.0.0.0 and one otherwise', () => {
    assert.deepEqual(urlsFor('http', '127.0.0.1', 8080), ['http://127.0.0.1:8080/']);
    assert.deepEqual(urlsFor('https', '::1', 8443), ['https://[::1]:8443/']);
    const all = urlsFor('http', '0.0.0.0', 9000);
    assert.ok(all.includes('http://127.0.0.1:9000/'), all.join(' '));
    assert.ok(
      all.every((url) => !url.includes('[')),
      'IPv4 only on 0.0.0.0',
    );
  });

  it('-l tcp://0.0.0.0:0 prints the loopback URL among the others; -l unix: serves on a socket', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'hello.txt'), 'hello');
    const serve = await startServe(t, [dir, '-l', 'tcp://0.0.0.0:0', '--log', 'off']);
    assert.match(serve.output(), /at http:\/\/0\.0\.0\.0:\d+\//);
    assert.match(serve.output(), /also at http:\/\/127\.0\.0\.1:\d+\//);
    assert.equal((await rawRequest(t, serve.port, 'GET', '/hello.txt')).body.toString(), 'hello');

    const socketPath = join(dir, 's.sock');
    const child = (await import('node:child_process')).spawn(
      process.execPath,
      [cliEntry, 'serve', dir, '-l', `unix:${socketPath}`, '--log', 'off'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.after(() => child.kill('SIGKILL'));
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const deadline = Date.now() + 10_000;
    while (!output.includes(`unix:${socketPath}`)) {
      assert.ok(Date.now() < deadline, `no start: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const body = await new Promise<string>((resolve, reject) => {
      httpRequest({ socketPath, path: '/hello.txt' }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on('end', () => resolve(text));
      })
        .on('error', reject)
        .end();
    });
    assert.equal(body, 'hello');
    assert.throws(() => parseListen('', 'x'));
    const both = runServe([dir, '-l', '8080', '--port', '1']);
    assert.match(both.stderr, /--listen takes the place of --port and --host/);
    assert.match(runServe([dir, '-l', '8080', '-l', '8081']).stderr, /one address per process/);
  });
});
