// The listing page in a real browser (headless Chromium, driven over the DevTools protocol):
// every row is there with its name shown as text, the keyboard moves between rows, a column
// header sorts, and a phone-sized screenshot is a real picture (not blank).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { inflateSync } from 'node:zlib';

import { WebSocket } from 'undici';

import { serveStatic } from '../../src/index.js';
import { tempDir } from '../support/fixtures.js';
import { listen } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
const NAMES = ['<img src=x onerror=alert(1)>.txt', 'beta.txt', 'alpha.txt', 'quote"\'.txt', 'percent%41.txt'];

/** A DevTools session on one page. */
class Page {
  #next = 1;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  constructor(readonly socket: WebSocket) {
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (message.id === undefined) return;
      const waiting = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error !== undefined) waiting?.reject(new Error(message.error.message));
      else waiting?.resolve(message.result);
    });
  }

  send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  async evaluate<T>(expression: string): Promise<T> {
    const { result } = await this.send<{ result: { value: T } }>('Runtime.evaluate', {
      expression,
      returnByValue: true,
      awaitPromise: true,
    });
    return result.value;
  }

  async press(key: string, code: string, keyCode: number): Promise<void> {
    for (const type of ['rawKeyDown', 'keyUp']) {
      await this.send('Input.dispatchKeyEvent', { type, key, code, windowsVirtualKeyCode: keyCode });
    }
  }
}

async function openPage(t: TestContext, url: string): Promise<Page> {
  const profile = tempDir(t, 'zerocopy-chromium-');
  const chromium: ChildProcess = spawn(
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
      '--remote-debugging-port=0',
      '--window-size=1280,900',
      url,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.after(() => chromium.kill('SIGKILL'));
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium did not start: ${stderr}`)), 30_000);
    chromium.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const found = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(stderr);
      if (found !== null) {
        clearTimeout(timer);
        resolve(Number(found[1]));
      }
    });
    chromium.once('exit', () => reject(new Error(`chromium exited: ${stderr}`)));
  });
  // The page target for our URL (it may take a moment to appear and to finish loading).
  const deadline = Date.now() + 30_000;
  for (;;) {
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
      type: string;
      url: string;
      webSocketDebuggerUrl: string;
    }>;
    const target = targets.find((each) => each.type === 'page' && each.url === url);
    if (target !== undefined) {
      const socket = new WebSocket(target.webSocketDebuggerUrl);
      await new Promise((resolve, reject) => {
        socket.addEventListener('open', resolve);
        socket.addEventListener('error', reject);
      });
      t.after(() => socket.close());
      const page = new Page(socket);
      // The first document may still be the blank one the tab opened with.
      while (
        !(await page.evaluate<boolean>(
          "document.readyState === 'complete' && document.querySelector('tbody') !== null",
        ))
      ) {
        assert.ok(Date.now() < deadline, 'the page did not load');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return page;
    }
    assert.ok(Date.now() < deadline, 'no page target');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Width, height and the number of distinct bytes in the decoded pixel rows of a PNG. */
function inspectPng(png: Buffer): { width: number; height: number; distinctBytes: number } {
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('latin1');
    if (type === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + length));
    at += 12 + length;
  }
  const pixels = inflateSync(Buffer.concat(idat));
  const seen = new Set<number>();
  for (const byte of pixels) seen.add(byte);
  return { width, height, distinctBytes: seen.size };
}

describe('the listing page in headless Chromium', () => {
  it('shows every row, moves with the keyboard, sorts, and renders on a phone', async (t) => {
    if (!existsSync(CHROMIUM)) {
      t.skip(`${CHROMIUM} is not installed`);
      return;
    }
    const root = tempDir(t, 'zerocopy-listing-browser-');
    for (const [i, name] of NAMES.entries()) writeFileSync(join(root, name), 'x'.repeat((i + 1) * 1000));
    mkdirSync(join(root, 'folder'));
    const handler = serveStatic(root, { listing: true, cacheValidity: 0 });
    const { port } = await listen(t, (req, res) => handler(req, res));
    const page = await openPage(t, `http://127.0.0.1:${port}/`);

    // No name ran as markup: the shown texts are the names themselves.
    const shown = await page.evaluate<string[]>(
      "[...document.querySelectorAll('tbody td.name a')].map((a) => a.textContent)",
    );
    assert.deepEqual(shown, ['folder/', ...[...NAMES].sort()]);
    assert.equal(await page.evaluate<number>('document.images.length'), 0, 'no <img> from a name');

    // Keyboard: ArrowDown walks the rows' links, ArrowUp goes back, End jumps to the last.
    const focused = () => page.evaluate<string | null>('document.activeElement?.textContent ?? null');
    await page.press('ArrowDown', 'ArrowDown', 40);
    assert.equal(await focused(), 'folder/');
    await page.press('ArrowDown', 'ArrowDown', 40);
    assert.equal(await focused(), [...NAMES].sort()[0]);
    await page.press('ArrowUp', 'ArrowUp', 38);
    assert.equal(await focused(), 'folder/');
    await page.press('End', 'End', 35);
    assert.equal(await focused(), [...NAMES].sort().at(-1));
    await page.press('Home', 'Home', 36);
    assert.equal(await focused(), 'folder/');

    // Sorting by size: the largest first after two clicks (descending), directories stay first.
    await page.evaluate("document.querySelector('th[data-key=size] button').click()");
    await page.evaluate("document.querySelector('th[data-key=size] button').click()");
    const bySize = await page.evaluate<string[]>(
      "[...document.querySelectorAll('tbody td.name a')].map((a) => a.textContent)",
    );
    assert.deepEqual(bySize, ['folder/', ...[...NAMES].reverse()]);
    assert.equal(
      await page.evaluate<string>("document.querySelector('th[data-key=size]').getAttribute('aria-sort')"),
      'descending',
    );

    // A phone-sized screenshot: the right size, and a picture rather than a blank page.
    await page.send('Emulation.setDeviceMetricsOverride', {
      width: 390,
      height: 844,
      deviceScaleFactor: 1,
      mobile: true,
    });
    const { data } = await page.send<{ data: string }>('Page.captureScreenshot', { format: 'png' });
    const png = Buffer.from(data, 'base64');
    const picture = inspectPng(png);
    t.diagnostic(
      `screenshot: ${picture.width}x${picture.height}, ${png.length} bytes, ${picture.distinctBytes} distinct bytes`,
    );
    assert.deepEqual([picture.width, picture.height], [390, 844]);
    assert.ok(png.length > 5000, `the screenshot is only ${png.length} bytes`);
    assert.ok(picture.distinctBytes > 32, 'the screenshot is not blank');
    // On a phone the Modified column gives way; the table fits the width.
    assert.equal(
      await page.evaluate<string>("getComputedStyle(document.querySelector('td.modified')).display"),
      'none',
    );
    assert.ok((await page.evaluate<number>('document.documentElement.scrollWidth')) <= 390);

    // Enter follows the focused link, as any link does: into the folder, whose page links back up.
    await page.press('Home', 'Home', 36);
    assert.equal(await focused(), 'folder/');
    await page.send('Input.dispatchKeyEvent', {
      type: 'keyDown',
      key: 'Enter',
      code: 'Enter',
      windowsVirtualKeyCode: 13,
      text: '\r',
    });
    await page.send('Input.dispatchKeyEvent', {
      type: 'keyUp',
      key: 'Enter',
      code: 'Enter',
      windowsVirtualKeyCode: 13,
    });
    const deadline = Date.now() + 10_000;
    while ((await page.evaluate<string>('location.pathname').catch(() => '')) !== '/folder/') {
      assert.ok(Date.now() < deadline, 'Enter did not follow the link');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    while (
      (await page
        .evaluate<string | null>("document.querySelector('a[rel=up]')?.getAttribute('href') ?? null")
        .catch(() => null)) !== '/'
    ) {
      assert.ok(Date.now() < deadline, 'the folder page did not load');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
});
