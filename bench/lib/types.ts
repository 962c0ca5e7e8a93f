import type { Summary } from './stats.js';

/** One measured run of one contender: metric name -> value. */
export type Sample = Record<string, number>;

export interface Metric {
  key: string;
  label: string;
  unit: string;
  /** Which direction is an improvement; ratios are always "how many times better than the baseline". */
  better: 'higher' | 'lower';
  /** Shown as a chart in the HTML report. */
  chart?: boolean;
}

export interface SyscallCount {
  /** System calls per transfer, after subtracting a run that moves nothing (process start-up). */
  perTransfer: number;
  /** The most frequent calls in the measured run, per transfer. */
  top: { name: string; perTransfer: number }[];
}

export interface Row {
  id: string;
  label: string;
  /** 'c' for the C yardstick, 'node' for Node paths, 'peer' for servers that are not ours, 'zerocopy' for ours. */
  kind: 'c' | 'node' | 'zerocopy' | 'peer';
  samples: Sample[];
  summary: Record<string, Summary>;
  /** metric -> times better than the group's baseline (>1 is better), from medians. */
  ratios: Record<string, number>;
  syscalls?: SyscallCount;
  /** Anything the contender said about itself (e.g. transfer()'s method and fallback). */
  detail?: string;
}

export interface Group {
  id: string;
  title: string;
  baseline: string;
  metrics: Metric[];
  rows: Row[];
  notes: string[];
}

export interface Skip {
  contender: string;
  reason: string;
}

export interface Claim {
  claim: string;
  published: string;
  ours: string;
  verdict: 'met' | 'not met' | 'n/a';
}

export interface ScenarioResult {
  id: string;
  title: string;
  description: string;
  groups: Group[];
  skipped: Skip[];
  notes: string[];
  claims?: Claim[];
  headline?: string[];
  durationS: number;
}

export interface Options {
  quick: boolean;
  json: boolean;
}

export interface Progress {
  /** Declares how many trials a scenario will run, for the time estimate. */
  plan(trials: number): void;
  step(what: string): void;
  log(message: string): void;
}

export interface Tools {
  /** The compiled C reference (bench/peers/sender.c), or null with the reason in skips. */
  sender: string | null;
  wrk: string | null;
  nginx: string | null;
  strace: string | null;
  bun: string | null;
  /** dist/src/index.js, imported by the orchestrator to see what the library exports. */
  library: Record<string, unknown> | null;
  /** Why each missing tool is missing. */
  missing: Record<string, string>;
}

export interface Context {
  options: Options;
  tools: Tools;
  progress: Progress;
  /** A directory for this run's generated files (test data, configs); removed at the end. */
  workDir: string;
  /** Where large test files live; kept between runs so they are not rewritten each time. */
  dataDir: string;
  /** thresholds.* in the JSON. */
  thresholds: Record<string, number | null>;
}

export interface Scenario {
  id: string;
  title: string;
  description: string;
  run(ctx: Context): Promise<Omit<ScenarioResult, 'id' | 'title' | 'description' | 'durationS'>>;
}
