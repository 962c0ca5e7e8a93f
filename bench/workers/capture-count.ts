// The capture() contender: counts packets in JavaScript (one batch per ring block, every
// packet's length read), and on SIGINT/SIGTERM prints tcpdump's three counts to stderr.
//   node capture-count.js LIBRARY_INDEX IFACE BLOCKS
import { pathToFileURL } from 'node:url';

interface Stats {
  received: number;
  dropped: number;
}
interface Batch {
  length: number;
  originalLength(index: number): number;
  release(): void;
}
interface Session extends AsyncIterable<Batch> {
  stats(): Stats;
  close(): void;
}
type Capture = (options: Record<string, unknown>) => Session;

const [libraryIndex = '', iface = '', blocks = '32'] = process.argv.slice(2);
const { capture } = (await import(pathToFileURL(libraryIndex).href)) as { capture: Capture };
const session = capture({ interface: iface, direction: 'in', ring: { blocks: Number(blocks) } });
const stop = () => session.close();
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.stderr.write(`listening on ${iface}\n`);
let packets = 0;
let bytes = 0;
for await (const batch of session) {
  for (let i = 0; i < batch.length; i++) bytes += batch.originalLength(i);
  packets += batch.length;
}
const stats = session.stats();
process.stderr.write(
  `${packets} packets captured\n${stats.received} packets received by filter\n${stats.dropped} packets dropped by kernel\n`,
);
process.stdout.write(`${JSON.stringify({ packets, bytes })}\n`);
