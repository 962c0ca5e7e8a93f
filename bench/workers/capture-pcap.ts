// The npm 'pcap' package contender (libpcap through its Node binding): counts packets in
// JavaScript, one 'packet' event each, and on SIGINT/SIGTERM prints tcpdump's three counts.
//   node capture-pcap.js PCAP_MODULE_DIR IFACE BUFFER_BYTES
import { createRequire } from 'node:module';
import { join } from 'node:path';

interface PcapSession {
  on(event: 'packet', listener: (packet: { header: Buffer }) => void): void;
  stats(): { ps_recv: number; ps_drop: number };
  close(): void;
}
interface PcapModule {
  createSession(device: string, options: Record<string, unknown>): PcapSession;
}

const [moduleDir = '', iface = '', bufferBytes = String(32 << 20)] = process.argv.slice(2);
const pcap = createRequire(join(moduleDir, 'package.json'))(moduleDir) as PcapModule;
const session = pcap.createSession(iface, { buffer_size: Number(bufferBytes), buffer_timeout: 10 });
let packets = 0;
session.on('packet', () => {
  packets++;
});
const stop = () => {
  const stats = session.stats();
  session.close();
  process.stderr.write(
    `${packets} packets captured\n${stats.ps_recv} packets received by filter\n${stats.ps_drop} packets dropped by kernel\n`,
  );
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.stderr.write(`listening on ${iface}\n`);
