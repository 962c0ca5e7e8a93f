// A one-line progress bar for a terminal, redrawn at most ten times a second.
import type { WriteStream } from 'node:tty';
import { formatSize } from '../format-size.js';

export interface ProgressBar {
  update(done: number, total: number): void;
  /** Clears the line. */
  finish(): void;
}

export function progressBar(stream: WriteStream, label: string): ProgressBar {
  const started = performance.now();
  let lastDraw = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = performance.now();
      if (now - lastDraw < 100 && done < total) return;
      lastDraw = now;
      drawn = true;
      const width = 24;
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      const filled = Math.round(fraction * width);
      const rate = done / Math.max(0.001, (now - started) / 1000);
      const line = `${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${formatSize(done)}/${formatSize(total)} ${formatSize(rate)}/s`;
      stream.write(`\r${line.slice(0, Math.max(20, (stream.columns ?? 80) - 1))}\x1b[K`);
    },
    finish() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}
