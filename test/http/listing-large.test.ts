// A directory of 100,000 entries: its listing is read in batches and written in pieces, and
// stops reading at the limit, so that neither memory nor one turn of the event loop grows
// with the directory. The event loop's delay is measured and reported, never asserted.
import assert from 'node:assert/strict';
import { closeSync, openSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it, type TestContext } from 'node:test';

import { type ListingReport, writeListing } from '../../src/http/listing.js';
import { LISTING_BATCH } from '../../src/http/listing-read.js';
import { tempDir } from '../support/fixtures.js';
import { listen } from './support.js';

const ENTRIES = 100_000;

describe('a listing of 100,000 entries', () => {
  const root = tempDir({ after }, 'zerocopy-listing-large-');
  before(() => {
    for (let i = 0; i < ENTRIES; i++) closeSync(openSync(join(root, `file-${i}.txt`), 'w'));
  });

  async function listed(t: TestContext, limit: number, accept: string) {
    let report: ListingReport | undefined;
    const { port } = await listen(t, (req, res) => {
      writeListing(req, res, root, [], { limit, dotfiles: 'ignore', jail: undefined }).then((done) => {
        report = done;
      });
    });
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    // node:http's client, without a read timeout: 100,000 stat calls take a while on a busy machine.
    const response = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      get({ port, host: '127.0.0.1', path: '/', headers: { Accept: accept } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      }).on('error', reject);
    });
    delay.disable();
    t.diagnostic(
      `event-loop delay while listing ${limit} of ${ENTRIES}: max ${(delay.max / 1e6).toFixed(1)} ms, ` +
        `p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, mean ${(delay.mean / 1e6).toFixed(1)} ms`,
    );
    assert.ok(report !== undefined);
    return { response, report };
  }

  it('stops reading at the limit and says the listing is cut short', async (t) => {
    const { response, report } = await listed(t, 10_000, 'application/json');
    const json = JSON.parse(response.body.toString()) as { entries: unknown[]; truncated: boolean };
    assert.deepEqual([json.entries.length, json.truncated], [10_000, true]);
    assert.equal(report.entries, 10_000);
    // Memory bound: the directory was not read past the limit and one batch.
    assert.ok(report.scanned <= 10_000 + LISTING_BATCH, `scanned ${report.scanned}`);
    assert.ok(report.batches >= 10_000 / LISTING_BATCH, `read in ${report.batches} batches`);
    // The page left in pieces of at most one batch of rows each.
    assert.ok(report.chunks >= 10_000 / LISTING_BATCH, `${report.chunks} writes`);
    assert.ok(report.bytes / report.chunks < report.bytes / 10, 'no piece holds a tenth of the page');
  });

  it('lists all of them when the limit allows, a batch of rows per write', async (t) => {
    const { response, report } = await listed(t, ENTRIES, 'text/html');
    assert.equal(response.status, 200);
    const names = [...response.body.toString().matchAll(/<tr data-dir="0" data-name="([^"]*)"/g)].map((m) => m[1]!);
    assert.equal(names.length, ENTRIES);
    // Sorted across the whole directory, though the sort ran in slices between turns.
    for (let i = 1; i < names.length; i++) assert.ok(names[i - 1]! < names[i]!, `${names[i - 1]} before ${names[i]}`);
    assert.equal(report.truncated, false);
    assert.equal(report.scanned, ENTRIES);
    assert.ok(report.chunks >= ENTRIES / LISTING_BATCH, `${report.chunks} writes`);
  });
});
