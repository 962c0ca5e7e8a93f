import { randomFillSync } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A file of `size` random bytes in `dir` (kept between runs: rewriting 1 GiB each time
 * costs more than the trial). World-readable, for nginx workers that drop root.
 */
export function testFile(dir: string, name: string, size: number): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const path = join(dir, name);
  if (existsSync(path) && statSync(path).size === size) return path;
  const fd = openSync(path, 'w', 0o644);
  const chunk = Buffer.allocUnsafe(Math.min(size, 1 << 20));
  try {
    for (let written = 0; written < size; ) {
      const n = Math.min(chunk.length, size - written);
      randomFillSync(chunk, 0, n);
      written += writeSync(fd, chunk, 0, n);
    }
  } finally {
    closeSync(fd);
  }
  chmodSync(path, 0o644);
  return path;
}

/** Reads a file once so that the trials that follow find it in the page cache. */
export function warmPageCache(path: string): void {
  const fd = openSync(path, 'r');
  const buffer = Buffer.allocUnsafe(1 << 20);
  try {
    while (readSync(fd, buffer, 0, buffer.length, null) > 0) {
      // reading is the point
    }
  } finally {
    closeSync(fd);
  }
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${+(bytes / (1 << 30)).toFixed(2)} GiB`;
  if (bytes >= 1 << 20) return `${+(bytes / (1 << 20)).toFixed(2)} MiB`;
  if (bytes >= 1 << 10) return `${+(bytes / (1 << 10)).toFixed(2)} KiB`;
  return `${bytes} B`;
}
