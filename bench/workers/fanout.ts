// One fan-out of standard input to N loopback connections, for the fanout scenario: fanout()
// or Node's stream fan-out (stdin piped to each socket). Times the fan-out only (connections
// are made first) and prints one JSON line.
// Usage: fanout.js METHOD PORT N LIBRARY_INDEX [POLICY LAG_LIMIT]
//   METHOD: zerocopy | stream

import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { pathToFileURL } from 'node:url';

import { startSpan } from './measure.js';

interface FanoutReport {
  bytes: number;
  destinations: { bytes: number; outcome: string; method: string }[];
}
type Fanout = (source: number, destinations: Socket[], options: object) => PromiseLike<FanoutReport>;

const [method, portText, countText, libraryIndex, policy, lagLimit] = process.argv.slice(2);
if (method === undefined || portText === undefined || countText === undefined || libraryIndex === undefined) {
  process.stderr.write('usage: fanout.js METHOD PORT N LIBRARY_INDEX [POLICY LAG_LIMIT]\n');
  process.exit(2);
}

const sockets: Socket[] = [];
for (let i = 0; i < Number(countText); i++) {
  const socket = connect(Number(portText), '127.0.0.1');
  await once(socket, 'connect');
  sockets.push(socket);
}

// Loaded before the span starts: module loading is not fan-out work.
const library =
  method === 'zerocopy' ? ((await import(pathToFileURL(libraryIndex).href)) as { fanout?: Fanout }) : undefined;

let detail = '';
const end = startSpan();
if (library !== undefined) {
  if (library.fanout === undefined) throw new Error('the library does not export fanout');
  const options = policy === undefined ? {} : { policy, lagLimit: Number(lagLimit) };
  const report = await library.fanout(0, sockets, options);
  const outcomes = new Map<string, number>();
  for (const each of report.destinations) outcomes.set(each.outcome, (outcomes.get(each.outcome) ?? 0) + 1);
  detail = `${report.destinations[0]?.method ?? '?'}; ${[...outcomes].map(([k, v]) => `${v} ${k}`).join(', ')}`;
  for (const socket of sockets) socket.destroy();
} else if (method === 'stream') {
  const input = process.stdin;
  input.setMaxListeners(sockets.length + 10);
  for (const socket of sockets) input.pipe(socket);
  await Promise.all(sockets.map((socket) => once(socket, 'finish')));
  for (const socket of sockets) socket.destroy();
} else {
  throw new Error(`unknown method ${method}`);
}
process.stdout.write(`${JSON.stringify({ ...end(), detail })}\n`);
