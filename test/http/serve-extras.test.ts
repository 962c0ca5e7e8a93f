// serveStatic's extras, as `serve` users expect them: directory listings (escaped, sorted,
// with the file rules of dotfiles and symlinks, as JSON too), the single-page-app fallback,
// CORS with its preflight, clean URLs and trailing slashes, and serve.json's rules taken from
// serve-handler's documented examples.
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { type ServeStaticOptions, serveStatic } from '../../src/index.js';
import { tempDir } from '../support/fixtures.js';
import { listen, rawRequest } from './support.js';

async function serving(t: TestContext, root: string, options: ServeStaticOptions) {
  const handler = serveStatic(root, { cacheValidity: 0, ...options });
  const { port } = await listen(t, (req, res) => handler(req, res));
  return (target: string, headers: Record<string, string> = {}, method = 'GET') =>
    rawRequest(t, port, method, target, headers);
}

/** A directory whose names are chosen to break a careless listing. */
function hostileDir(t: TestContext): string {
  const root = tempDir(t, 'zerocopy-listing-');
  const names = ['<script>alert(1)<.txt', `q"'%.txt`, 'new\nline.txt', 'b.txt', 'a.txt', 'Z.txt', 'amp&.txt'];
  for (const name of names) writeFileSync(join(root, name), name);
  writeFileSync(Buffer.from(`${root}/\xff\xfe-latin1.txt`, 'latin1'), 'not utf-8');
  mkdirSync(join(root, 'zdir'));
  mkdirSync(join(root, 'adir'));
  writeFileSync(join(root, '.secret'), 'dotfile');
  mkdirSync(join(root, '.git'));
  const outside = tempDir(t, 'zerocopy-listing-outside-');
  writeFileSync(join(outside, 'secret.txt'), 'outside');
  symlinkSync(join(outside, 'secret.txt'), join(root, 'link-out.txt'));
  symlinkSync(outside, join(root, 'dirlink-out'));
  symlinkSync('a.txt', join(root, 'link-in.txt'));
  return root;
}

/** The hrefs and shown names of the rows of a listing page, in order. */
function rows(html: string): Array<{ href: string; name: string }> {
  return [...html.matchAll(/<td class="name"><a href="([^"]*)"[^>]*>([^<]*)<\/a>/g)].map((m) => ({
    href: m[1]!,
    name: m[2]!,
  }));
}

describe('serveStatic: directory listings', () => {
  it('is off unless asked for: a directory without an index stays a 404', async (t) => {
    const request = await serving(t, hostileDir(t), {});
    assert.equal((await request('/')).status, 404);
  });

  it('escapes every name and percent-encodes every href, byte by byte', async (t) => {
    const request = await serving(t, hostileDir(t), { listing: true });
    const response = await request('/');
    assert.equal(response.status, 200);
    assert.match(response.headers['content-type']!, /^text\/html; charset=utf-8$/);
    const html = response.body.toString();
    assert.ok(!html.includes('<script>alert'), 'no raw markup from a name');
    assert.ok(!/<link|<img|src="http|href="http/.test(html), 'no external assets');
    const found = rows(html);
    const byHref = new Map(found.map((row) => [row.href, row.name]));
    assert.equal(byHref.get('/%3Cscript%3Ealert%281%29%3C.txt'), '&#60;script&#62;alert(1)&#60;.txt');
    assert.equal(byHref.get('/q%22%27%25.txt'), 'q&#34;&#39;%.txt');
    assert.equal(byHref.get('/new%0Aline.txt'), 'new\nline.txt');
    assert.equal(byHref.get('/amp%26.txt'), 'amp&#38;.txt');
    assert.equal(byHref.get('/%FF%FE-latin1.txt'), '\ufffd\ufffd-latin1.txt');
    // Every href is made of unreserved characters and %XX only.
    for (const row of found) assert.match(row.href, /^\/([A-Za-z0-9\-._~]|%[0-9A-F]{2}|\/)*$/, row.href);
    // The escaped links lead to the files (the non-UTF-8 one is refused as file serving refuses it).
    const served = await request('/q%22%27%25.txt');
    assert.equal(served.body.toString(), `q"'%.txt`);
    assert.equal((await request('/new%0Aline.txt')).body.toString(), 'new\nline.txt');
    assert.equal((await request('/%FF%FE-latin1.txt')).status, 400);
  });

  it('lists directories first, then names in byte order; hides dotfiles and symlinks out of the root', async (t) => {
    const request = await serving(t, hostileDir(t), { listing: true });
    const names = rows((await request('/')).body.toString()).map((row) => row.href);
    assert.deepEqual(names.slice(0, 2), ['/adir/', '/zdir/']);
    const files = names.slice(2);
    assert.deepEqual(
      files,
      [...files].sort((a, b) =>
        Buffer.compare(Buffer.from(decodeURIComponentLoose(a)), Buffer.from(decodeURIComponentLoose(b))),
      ),
    );
    assert.ok(names.includes('/link-in.txt'), 'a symlink inside the root is listed');
    for (const hidden of ['/link-out.txt', '/dirlink-out/', '/.secret', '/.git/'])
      assert.ok(!names.includes(hidden), hidden);
    // As file serving: the escaping symlink is refused, the dotfile hidden.
    assert.equal((await request('/link-out.txt')).status, 403);
    assert.equal((await request('/.secret')).status, 404);
  });

  it("lists dotfiles when they are allowed (but never serve's default unlisted names)", async (t) => {
    const request = await serving(t, hostileDir(t), { listing: true, dotfiles: 'allow' });
    const names = rows((await request('/')).body.toString()).map((row) => row.href);
    assert.ok(names.includes('/.secret'));
    assert.ok(!names.includes('/.git/'));
  });

  it('answers JSON for Accept: application/json, with the same entries', async (t) => {
    const request = await serving(t, hostileDir(t), { listing: true });
    const response = await request('/', { Accept: 'application/json' });
    assert.equal(response.status, 200);
    assert.match(response.headers['content-type']!, /^application\/json/);
    assert.equal(response.headers.vary, 'Accept');
    const listing = JSON.parse(response.body.toString()) as {
      path: string;
      entries: Array<{ name: string; href: string; type: string; size: number | null }>;
      truncated: boolean;
    };
    assert.equal(listing.path, '/');
    assert.equal(listing.truncated, false);
    const html = rows((await request('/')).body.toString()).map((row) => row.href);
    assert.deepEqual(
      listing.entries.map((entry) => entry.href),
      html,
    );
    const script = listing.entries.find((entry) => entry.href === '/%3Cscript%3Ealert%281%29%3C.txt');
    assert.deepEqual([script?.name, script?.type, script?.size], ['<script>alert(1)<.txt', 'file', 21]);
    assert.equal(listing.entries.find((entry) => entry.href === '/adir/')?.type, 'directory');
  });

  it('keeps breadcrumbs and links of a nested directory under its own path', async (t) => {
    const root = tempDir(t, 'zerocopy-listing-');
    mkdirSync(join(root, 'a b', 'c&d'), { recursive: true });
    writeFileSync(join(root, 'a b', 'c&d', 'x.txt'), 'x');
    const request = await serving(t, root, { listing: true });
    const html = (await request('/a%20b/c%26d/')).body.toString();
    assert.deepEqual(rows(html), [
      { href: '/a%20b/', name: '../' },
      { href: '/a%20b/c%26d/x.txt', name: 'x.txt' },
    ]);
    assert.ok(html.includes('<a href="/a%20b/">a b</a>/'));
    assert.ok(html.includes('<a href="/a%20b/c%26d/">c&#38;d</a>/'));
    // The slash-less form is redirected first, as for any directory.
    const redirect = await request('/a%20b/c%26d');
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, '/a%20b/c%26d/');
  });

  it('caps a listing at listingLimit entries and says so', async (t) => {
    const root = tempDir(t, 'zerocopy-listing-');
    for (let i = 0; i < 25; i++) writeFileSync(join(root, `f${i}.txt`), '');
    const request = await serving(t, root, { listing: true, listingLimit: 10 });
    const html = (await request('/')).body.toString();
    assert.equal(rows(html).length, 10);
    assert.match(html, /more than 10 entries/);
    const json = JSON.parse((await request('/', { Accept: 'application/json' })).body.toString());
    assert.deepEqual([json.entries.length, json.truncated, json.limit], [10, true, 10]);
  });

  it('leaves a directory with an index file alone, and a HEAD has no body', async (t) => {
    const root = tempDir(t, 'zerocopy-listing-');
    mkdirSync(join(root, 'site'));
    writeFileSync(join(root, 'site', 'index.html'), '<h1>index</h1>');
    const request = await serving(t, root, { listing: true });
    assert.equal((await request('/site/')).body.toString(), '<h1>index</h1>');
    const head = await request('/', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
  });

  it('lists only the directories a directoryListing glob names', async (t) => {
    const root = tempDir(t, 'zerocopy-listing-');
    mkdirSync(join(root, 'assets', 'img'), { recursive: true });
    mkdirSync(join(root, 'private'));
    const request = await serving(t, root, { listing: ['/assets/**'] });
    assert.equal((await request('/assets/img/')).status, 200);
    assert.equal((await request('/private/')).status, 404);
    assert.equal((await request('/')).status, 404);
  });

  it('keeps a small listing for cacheValidity, then reads the directory again', async (t) => {
    const root = tempDir(t, 'zerocopy-listing-');
    writeFileSync(join(root, 'first.txt'), '1');
    const outcomes: Array<string | undefined> = [];
    const request = await serving(t, root, {
      listing: true,
      cacheValidity: 300,
      onResponse: (result) => outcomes.push(result.cache),
    });
    const first = (await request('/')).body.toString();
    writeFileSync(join(root, 'second.txt'), '2');
    const again = await request('/');
    assert.equal(again.body.toString(), first, 'within the validity: the kept page');
    assert.equal(Number(again.headers['content-length']), again.body.length);
    assert.deepEqual(outcomes, [undefined, 'hit']);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.ok((await request('/')).body.toString().includes('/second.txt'), 'past it: read again');
    // JSON is kept apart from HTML.
    assert.match((await request('/', { Accept: 'application/json' })).headers['content-type']!, /json/);
  });

  it('renderSingle answers the only file of a directory', async (t) => {
    const root = tempDir(t, 'zerocopy-listing-');
    mkdirSync(join(root, 'one'));
    writeFileSync(join(root, 'one', 'picture.png'), 'PNG');
    const request = await serving(t, root, { listing: true, renderSingle: true });
    const response = await request('/one/');
    assert.deepEqual(
      [response.status, response.headers['content-type'], response.body.toString()],
      [200, 'image/png', 'PNG'],
    );
  });
});

function decodeURIComponentLoose(href: string): string {
  return href.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

function appDir(t: TestContext): string {
  const root = tempDir(t, 'zerocopy-spa-');
  writeFileSync(join(root, 'index.html'), '<h1>app</h1>');
  writeFileSync(join(root, 'about.html'), '<h1>about</h1>');
  writeFileSync(join(root, 'app.js'), 'js');
  mkdirSync(join(root, 'docs'));
  writeFileSync(join(root, 'docs', 'index.html'), '<h1>docs</h1>');
  return root;
}

describe('serveStatic: single-page apps', () => {
  it('answers index.html for unknown paths that accept HTML; assets and other types still 404', async (t) => {
    const request = await serving(t, appDir(t), { single: true });
    const html = { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
    for (const path of ['/users/42', '/deep/a/b', '/users/42?tab=x']) {
      const response = await request(path, html);
      assert.deepEqual([response.status, response.body.toString()], [200, '<h1>app</h1>'], path);
    }
    assert.equal((await request('/users/42', {}, 'HEAD')).status, 200);
    assert.equal((await request('/app.js')).body.toString(), 'js', 'real files are served');
    assert.equal((await request('/missing.js', html)).status, 404, 'an asset-looking path');
    assert.equal((await request('/missing.css', html)).status, 404);
    assert.equal((await request('/users/42', { Accept: 'application/json' })).status, 404);
    assert.equal((await request('/users/42', html, 'POST')).status, 405);
    assert.equal((await request('/docs/', html)).body.toString(), '<h1>docs</h1>');
  });

  it('without single, an unknown path is a 404', async (t) => {
    const request = await serving(t, appDir(t), {});
    assert.equal((await request('/users/42', { Accept: 'text/html' })).status, 404);
  });
});

describe('serveStatic: CORS', () => {
  it("'*': every response allows any origin; a preflight is answered", async (t) => {
    const request = await serving(t, appDir(t), { cors: true });
    const file = await request('/app.js', { Origin: 'https://a.example' });
    assert.equal(file.headers['access-control-allow-origin'], '*');
    assert.equal((await request('/app.js')).headers['access-control-allow-origin'], '*');
    assert.equal((await request('/missing')).headers['access-control-allow-origin'], '*');
    const preflight = await request(
      '/app.js',
      {
        Origin: 'https://a.example',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'range, x-thing',
      },
      'OPTIONS',
    );
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], '*');
    assert.equal(preflight.headers['access-control-allow-methods'], 'GET, HEAD, OPTIONS');
    assert.equal(preflight.headers['access-control-allow-headers'], 'range, x-thing');
    assert.equal(preflight.headers['access-control-max-age'], '86400');
    // An OPTIONS that is no preflight is still not allowed.
    assert.equal((await request('/app.js', {}, 'OPTIONS')).status, 405);
  });

  it('an origin list: only listed origins are allowed, and every file response varies on Origin', async (t) => {
    const request = await serving(t, appDir(t), { cors: 'https://a.example, https://b.example:8443' });
    const allowed = await request('/app.js', { Origin: 'https://b.example:8443' });
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://b.example:8443');
    assert.equal(allowed.headers.vary, 'Origin');
    const other = await request('/app.js', { Origin: 'https://evil.example' });
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    assert.equal(other.headers.vary, 'Origin');
    const none = await request('/app.js');
    assert.equal(none.headers['access-control-allow-origin'], undefined);
    const refused = await request(
      '/app.js',
      { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'GET' },
      'OPTIONS',
    );
    assert.equal(refused.status, 204);
    assert.equal(refused.headers['access-control-allow-origin'], undefined);
    assert.equal(refused.headers['access-control-allow-methods'], undefined);
  });

  it('refuses an origin list that names no origin', () => {
    assert.throws(() => serveStatic('.', { cors: 'https://a.example/path' }), /not an origin/);
    assert.throws(() => serveStatic('.', { cors: [] }), /empty/);
  });
});

describe('serveStatic: clean URLs and trailing slashes', () => {
  it('cleanUrls: /about serves about.html, /about.html and /docs/index redirect (301, path-only Location)', async (t) => {
    const request = await serving(t, appDir(t), { cleanUrls: true });
    assert.equal((await request('/about')).body.toString(), '<h1>about</h1>');
    const redirect = await request('/about.html?x=1');
    assert.deepEqual([redirect.status, redirect.headers.location], [301, '/about?x=1']);
    assert.equal((await request('/docs/index')).headers.location, '/docs');
    assert.equal((await request('/index.html')).headers.location, '/');
  });

  it('trailingSlash: true adds the slash to paths without an extension', async (t) => {
    const request = await serving(t, appDir(t), { trailingSlash: true, cleanUrls: true });
    assert.deepEqual([(await request('/test')).status, (await request('/test')).headers.location], [301, '/test/']);
    assert.equal((await request('/app.js')).status, 200);
    // Both at once: one redirect, not two.
    assert.equal((await request('/about.html')).headers.location, '/about/');
  });

  it('trailingSlash: false removes it, and a directory is served at its slash-less path', async (t) => {
    const request = await serving(t, appDir(t), { trailingSlash: false });
    assert.deepEqual([(await request('/docs/')).status, (await request('/docs/')).headers.location], [301, '/docs']);
    assert.equal((await request('/docs')).body.toString(), '<h1>docs</h1>');
    assert.equal((await request('/')).body.toString(), '<h1>app</h1>');
  });

  it('a Location is never protocol-relative', async (t) => {
    const request = await serving(t, appDir(t), { trailingSlash: false });
    const response = await request('//evil.example/');
    assert.ok(!response.headers.location?.startsWith('//'), response.headers.location);
  });
});

// The examples of serve-handler's README (github.com/vercel/serve-handler), one by one.
describe("serveStatic: serve.json rules (serve-handler's documented examples)", () => {
  function site(t: TestContext): string {
    const root = appDir(t);
    writeFileSync(join(root, 'edit-project.html'), 'edit project');
    writeFileSync(join(root, 'edit-project-123.html'), 'edit 123');
    writeFileSync(join(root, '404.html'), 'not found page');
    mkdirSync(join(root, 'img'));
    writeFileSync(join(root, 'img', 'cat.png'), 'PNG');
    return root;
  }

  it('rewrites: app/** to /index.html and projects/*/edit to /edit-project.html', async (t) => {
    const request = await serving(t, site(t), {
      rewrites: [
        { source: 'app/**', destination: '/index.html' },
        { source: 'projects/*/edit', destination: '/edit-project.html' },
      ],
    });
    assert.equal((await request('/app/some/page')).body.toString(), '<h1>app</h1>');
    assert.equal((await request('/projects/7/edit')).body.toString(), 'edit project');
    assert.equal((await request('/projects/7/view')).status, 404);
  });

  it('rewrites with routing segments: /projects/:id/edit to /edit-project-:id.html', async (t) => {
    const request = await serving(t, site(t), {
      rewrites: [{ source: '/projects/:id/edit', destination: '/edit-project-:id.html' }],
    });
    assert.equal((await request('/projects/123/edit')).body.toString(), 'edit 123');
    assert.equal((await request('/projects/999/edit')).status, 404);
  });

  it('redirects: /from to /to, /old-pages/** to /home, /old-docs/:id, and type 302', async (t) => {
    const request = await serving(t, site(t), {
      redirects: [
        { source: '/from', destination: '/to' },
        { source: '/old-pages/**', destination: '/home' },
        { source: '/old-docs/:id', destination: '/new-docs/:id' },
        { source: '/old', destination: '/new', type: 302 },
        { source: '/away', destination: 'https://example.com/x' },
      ],
    });
    const pairs = async (path: string) => {
      const response = await request(path);
      return [response.status, response.headers.location];
    };
    assert.deepEqual(await pairs('/from'), [301, '/to']);
    assert.deepEqual(await pairs('/old-pages/a/b'), [301, '/home']);
    assert.deepEqual(await pairs('/old-docs/12'), [301, '/new-docs/12']);
    assert.deepEqual(await pairs('/old'), [302, '/new']);
    assert.deepEqual(await pairs('/away'), [301, 'https://example.com/x']);
    assert.equal((await request('/app.js')).status, 200);
  });

  it('headers: Cache-Control for **/*.@(jpg|jpeg|gif|png) and for 404.html', async (t) => {
    const request = await serving(t, site(t), {
      headers: [
        { source: '**/*.@(jpg|jpeg|gif|png)', headers: [{ key: 'Cache-Control', value: 'max-age=7200' }] },
        { source: '404.html', headers: [{ key: 'Cache-Control', value: 'max-age=300' }] },
      ],
    });
    assert.equal((await request('/img/cat.png')).headers['cache-control'], 'max-age=7200');
    assert.equal((await request('/404.html')).headers['cache-control'], 'max-age=300');
    assert.equal((await request('/app.js')).headers['cache-control'], 'public, max-age=0');
  });

  it('refuses a rule it cannot read, naming it', () => {
    assert.throws(
      () => serveStatic('.', { redirects: [{ source: '/a', destination: '/b', type: 200 }] }),
      /redirects\[0\]/,
    );
    assert.throws(
      () => serveStatic('.', { headers: [{ source: '/a', headers: [{ key: 'Bad Name', value: 'x' }] }] }),
      /headers\[0\]/,
    );
    assert.throws(() => serveStatic('.', { rewrites: [{ source: '', destination: '/b' }] }), /rewrites\[0\]/);
  });
});
