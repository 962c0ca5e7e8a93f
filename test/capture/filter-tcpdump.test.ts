// compileFilter() against the real tcpdump: for each expression and each frame of a crafted
// corpus (plus seeded mutations of it), our program's verdict in a strict classic BPF
// interpreter must be the verdict of `tcpdump -r` on the same pcap file. tcpdump's own program
// (`tcpdump -dd`) runs in the same interpreter too, which checks the interpreter itself.

import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileFilter } from '../../src/capture/filter/index.js';
import { checkProgram, runProgram } from './filter-support/bpf-interpreter.js';
import { EXPRESSIONS } from './filter-support/expressions.js';
import { craftedFrames, mutatedFrames } from './filter-support/frames.js';
import { type Frame, writePcap } from './filter-support/pcap.js';
import { findTcpdump, tcpdumpMatches, tcpdumpProgram } from './filter-support/tcpdump.js';

test('compileFilter agrees with tcpdump on a crafted pcap corpus', async (t) => {
  const tcpdump = findTcpdump();
  if (tcpdump === undefined) {
    t.skip('tcpdump is not installed (apt-get install tcpdump)');
    return;
  }
  const directory = mkdtempSync(join(tmpdir(), 'zerocopy-filter-'));
  t.after(() => rmSync(directory, { recursive: true, force: true }));
  const crafted = craftedFrames();
  const frames: Frame[] = [...crafted, ...mutatedFrames(crafted, 20261202, 4)];
  const file = join(directory, 'corpus.pcap');
  writePcap(file, frames);

  let compared = 0;
  let accepted = 0;
  for (const expression of EXPRESSIONS) {
    await t.test(expression === '' ? '(empty expression)' : expression, (t) => {
      const ours = compileFilter(expression, { snapLength: 65535 });
      checkProgram(ours);
      const services = /\b(domain|https)\b/.test(expression);
      if (services && !existsSync('/etc/services')) {
        t.skip('tcpdump reads service names from /etc/services, which is missing (apt-get install netbase)');
        return;
      }
      const theirs = expression === '' ? undefined : tcpdumpProgram(tcpdump, expression);
      if (theirs) {
        checkProgram(theirs);
        // Not libpcap's optimizer, but within reach of its program lengths.
        assert.ok(ours.length <= theirs.length * 2.5 + 8, `${ours.length} instructions, tcpdump -dd ${theirs.length}`);
      }
      const truth = tcpdumpMatches(tcpdump, file, expression);
      // libpcap's optimizer (on unless -O) may reorder tests, which changes the verdict on a
      // frame whose capture ends inside a field the filter reads: tcpdump -O is the other truth.
      const unoptimized = tcpdumpMatches(tcpdump, file, expression, false);
      const disagreements: string[] = [];
      const optimizerChanged: string[] = [];
      frames.forEach((frame, index) => {
        const expected = truth.has(index);
        const verdict = runProgram(ours, frame.bytes, frame.wireLength);
        if (verdict !== 0 && verdict !== 65535) disagreements.push(`#${index} returned ${verdict}`);
        if ((verdict !== 0) !== expected) {
          const message = `#${index} ${frame.name}: tcpdump ${expected ? 'prints' : 'skips'} it, ours ${verdict ? 'accepts' : 'rejects'}`;
          // Where libpcap's optimizer alone flips the verdict, ours must be tcpdump -O's.
          if (expected === unoptimized.has(index)) disagreements.push(message);
          else optimizerChanged.push(message);
        }
        if (theirs && (runProgram(theirs, frame.bytes, frame.wireLength) !== 0) !== expected) {
          disagreements.push(
            `#${index} ${frame.name}: tcpdump -dd's program in the interpreter differs from tcpdump -r`,
          );
        }
        compared += 1;
        if (expected) accepted += 1;
      });
      for (const message of optimizerChanged) t.diagnostic(`as tcpdump -O, not tcpdump: ${message}`);
      assert.deepEqual(disagreements, [], `'${expression}'`);
    });
  }
  // A corpus on which every filter says the same thing would prove nothing.
  assert.ok(accepted > 0 && accepted < compared, `accepted ${accepted} of ${compared}`);
});
