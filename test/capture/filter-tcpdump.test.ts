// compileFilter() against the real tcpdump: for each expression and each frame of a crafted
// corpus (plus seeded mutations of it), our program's verdict in a strict classic BPF
// interpreter must be the verdict of `tcpdump -r` on the same pcap file. tcpdump's own program
// (`tcpdump -dd`) runs in the same interpreter too, which checks the interpreter itself.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { compileFilter } from '../../src/capture/filter/index.js';
import { checkProgram, runProgram } from './filter-support/bpf-interpreter.js';
import { craftedFrames, mutatedFrames } from './filter-support/frames.js';
import { type Frame, writePcap } from './filter-support/pcap.js';
import { findTcpdump, tcpdumpMatches, tcpdumpProgram } from './filter-support/tcpdump.js';

export const EXPRESSIONS = [
  'tcp',
  'udp',
  'icmp',
  'icmp6',
  'ip',
  'ip6',
  'arp',
  'rarp',
  'sctp',
  'igmp',
  'host 10.0.0.1',
  'src host 10.0.0.1',
  'dst host 10.0.0.2',
  'host 10.0.0.2 and not arp',
  'host 2001:db8::1',
  'src host 2001:db8::2 or dst host ::1',
  'net 10.0.0.0/8',
  'net 10.1',
  'src net 192.168.0.0 mask 255.255.0.0',
  'dst net 224.0.0.0/4',
  'net 2001:db8::/32',
  'net 2001:db8:1::/48',
  'port 80',
  'port 53',
  'tcp port 80',
  'udp port 53',
  'src port 53',
  'dst port 80 or 443',
  'tcp dst port 80 and tcp[tcpflags] & tcp-syn != 0',
  'portrange 5000-5353',
  'udp portrange 50-60',
  'port domain or port https',
  'tcp port 80 and host 10.0.0.1',
  'tcp port 443 and (host 10.0.0.1 or host 2001:db8::1)',
  'not port 53',
  '!tcp && !udp',
  'tcp or udp and not ip6',
  'vlan',
  'vlan 10',
  'vlan 20 and udp port 53',
  'vlan and ip',
  'vlan 100 and vlan 200 and udp',
  'vlan or ip',
  'ether host 02:00:00:00:00:0a',
  'ether src 02:00:00:00:00:0b',
  'ether dst ff:ff:ff:ff:ff:ff',
  'ether broadcast',
  'ether multicast',
  'ip multicast',
  'ip6 multicast',
  'ether proto 0x88cc',
  'ether proto \\arp',
  'ether proto 6',
  'ether proto 0x42',
  'ip proto 47',
  'ip proto \\tcp',
  'ip6 proto 17',
  'proto 6',
  'less 60',
  'greater 600',
  'len > 100 and len <= 1514',
  'tcp[13] & 2 != 0',
  'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn|tcp-ack',
  'tcp[tcpflags] & (tcp-rst|tcp-fin) != 0',
  'tcp[13] & 0xc0 != 0',
  'ip[2:2] > 576',
  'ip[0] & 0xf != 5',
  'ip[6:2] & 0x1fff != 0',
  'udp[0:2] = 53 or udp[2:2] = 53',
  'udp[4:2] - 8 > 20',
  'icmp[icmptype] == icmp-echo',
  'icmp[0] = 0 or icmp[0] = 8',
  'icmp6[icmp6type] = icmp6-echo',
  'ether[0] & 1 = 1',
  'ether[12:2] = 0x800 and ip[9] = 17',
  'ip[ip[0] & 0xf] = 0',
  'tcp[(tcp[12] >> 4) * 4 - 20] = 0',
  'ip[16:4] & 0xffffff00 = 0x0a000000',
  'len - 14 >= ip[2:2]',
  '(ip[2:2] - ((ip[0] & 0xf) << 2)) % 2 = 1',
  'ip[8] ^ 0x40 = 0',
  '-ip[9] = 0xfffffffa',
  'arp[6:2] = 2',
  'ip6[6] = 58 and ip6[40] = 128',
  'host 10.0.0.1 and (port 80 or port 53)',
  'not (src net 10.0.0.0/8 or ip6)',
  '',
];

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
      const theirs = expression === '' ? undefined : tcpdumpProgram(tcpdump, expression);
      if (theirs) {
        checkProgram(theirs);
        // Not libpcap's optimizer, but within reach of its program lengths.
        assert.ok(ours.length <= theirs.length * 2.5 + 4, `${ours.length} instructions, tcpdump -dd ${theirs.length}`);
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
