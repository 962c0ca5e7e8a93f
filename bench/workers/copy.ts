// One file copy in this process, for the cp scenario: the library call, fs.copyFile, or a
// stream copy. Times the copy only (not Node's start-up) and takes CPU and context switches
// of the whole process (thread pool included) around it. Prints one JSON line.
// Usage: copy.js METHOD SRC DST LIBRARY_INDEX [REFLINK]
//   METHOD: zerocopy-copyfile | fs-copyfile | stream

import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile as fsCopyFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';

import { startSpan } from './measure.js';

interface CopyReport {
  method: string;
  bytes: number;
  fallback?: { reason?: string };
  reflinkUnavailable?: string;
}
type LibraryCopy = (source: string, destination: string, options: { reflink: string }) => Promise<CopyReport>;

const [method, source, destination, libraryIndex, reflink] = process.argv.slice(2);
if (method === undefined || source === undefined || destination === undefined || libraryIndex === undefined) {
  process.stderr.write('usage: copy.js METHOD SRC DST LIBRARY_INDEX [REFLINK]\n');
  process.exit(2);
}

let copy: () => Promise<string | undefined>;
if (method === 'zerocopy-copyfile') {
  const library = (await import(pathToFileURL(libraryIndex).href)) as { copyFile?: LibraryCopy };
  const copyFile = library.copyFile;
  if (copyFile === undefined) throw new Error('the library does not export copyFile');
  copy = async () => {
    const report = await copyFile(source, destination, { reflink: reflink ?? 'never' });
    return `method ${report.method}${report.fallback?.reason ? ` (fallback: ${report.fallback.reason})` : ''}`;
  };
} else if (method === 'fs-copyfile') {
  copy = async () => {
    await fsCopyFile(source, destination);
    return undefined;
  };
} else if (method === 'stream') {
  copy = async () => {
    await pipeline(createReadStream(source), createWriteStream(destination));
    return undefined;
  };
} else {
  process.stderr.write(`copy.js: unknown method ${method}\n`);
  process.exit(2);
}

const endSpan = startSpan();
const detail = await copy();
const span = endSpan();
process.stdout.write(`${JSON.stringify({ ...span, ...(detail === undefined ? {} : { detail }) })}\n`);
