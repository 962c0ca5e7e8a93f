import { ratio, summarize } from './stats.js';
import type { Group, Metric, Row, Sample } from './types.js';

export interface RowInput {
  id: string;
  label: string;
  kind: Row['kind'];
  samples: Sample[];
  syscalls?: Row['syscalls'];
  detail?: string;
}

/** Summaries of every metric and ratios against the baseline row, from medians. */
export function buildGroup(
  id: string,
  title: string,
  baseline: string,
  metrics: Metric[],
  inputs: RowInput[],
  notes: string[] = [],
): Group {
  const rows: Row[] = inputs
    .filter((input) => input.samples.length > 0)
    .map((input) => {
      const summary: Row['summary'] = {};
      for (const metric of metrics)
        summary[metric.key] = summarize(input.samples.map((s) => s[metric.key] ?? Number.NaN));
      const row: Row = {
        id: input.id,
        label: input.label,
        kind: input.kind,
        samples: input.samples,
        summary,
        ratios: {},
      };
      if (input.syscalls !== undefined) row.syscalls = input.syscalls;
      if (input.detail !== undefined) row.detail = input.detail;
      return row;
    });
  const base = rows.find((row) => row.id === baseline);
  for (const row of rows) {
    for (const metric of metrics) {
      const mine = row.summary[metric.key]?.median;
      const theirs = base?.summary[metric.key]?.median;
      row.ratios[metric.key] = metric.better === 'higher' ? ratio(mine, theirs) : ratio(theirs, mine);
    }
  }
  return { id, title, baseline, metrics, rows, notes };
}

export function median(group: Group, rowId: string, metric: string): number | undefined {
  return group.rows.find((row) => row.id === rowId)?.summary[metric]?.median;
}

/** Round-robin over contenders inside each repeat, so slow drift of the machine hits all alike. */
export function* interleave<T>(contenders: T[], repeats: number): Generator<{ contender: T; repeat: number }> {
  for (let repeat = 0; repeat < repeats; repeat++) {
    for (const contender of contenders) yield { contender, repeat };
  }
}

export function fmt(value: number | undefined, digits = 2): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toFixed(digits);
}

/** A ratio as '1.23x', or '–' when there is nothing to compare with (never '0x'). */
export function times(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? '–' : `${fmt(value)}x`;
}
