import type { Progress } from './types.js';

function clock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * Progress on stderr: which scenario, which trial of how many, and the time left in this
 * scenario (from the mean trial time so far) plus the later scenarios' estimates.
 */
export class ProgressReporter implements Progress {
  private scenario = '';
  private index = 0;
  private count = 0;
  private planned = 0;
  private done = 0;
  private startedAt = Date.now();
  private laterEstimateS = 0;
  private readonly tty = process.stderr.isTTY === true;

  begin(scenario: string, index: number, count: number, laterEstimateS: number): void {
    this.scenario = scenario;
    this.index = index;
    this.count = count;
    this.planned = 0;
    this.done = 0;
    this.startedAt = Date.now();
    this.laterEstimateS = laterEstimateS;
    this.write(`== [${index}/${count}] ${scenario}`, true);
  }

  plan(trials: number): void {
    this.planned += trials;
  }

  step(what: string): void {
    this.done += 1;
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const mean = this.done > 1 ? elapsed / (this.done - 1) : Number.NaN;
    const left = Math.max(0, this.planned - this.done + 1) * mean + this.laterEstimateS;
    const total = this.planned > 0 ? `/${this.planned}` : '';
    const eta = Number.isFinite(left) ? `~${clock(left)} left` : 'estimating';
    this.write(`[${this.index}/${this.count} ${this.scenario}] trial ${this.done}${total} ${what} (${eta})`, false);
  }

  log(message: string): void {
    this.write(`   ${message}`, true);
  }

  end(): void {
    if (this.tty) process.stderr.write('\r\x1b[K');
  }

  private write(line: string, keep: boolean): void {
    if (this.tty) {
      const width = process.stderr.columns ?? 120;
      process.stderr.write(`\r\x1b[K${line.slice(0, width - 1)}${keep ? '\n' : ''}`);
    } else {
      process.stderr.write(`${line}\n`);
    }
  }
}
