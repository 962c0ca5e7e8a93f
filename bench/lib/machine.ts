import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, freemem, hostname, release, totalmem } from 'node:os';

import { ROOT } from './paths.js';

export interface Machine {
  hostname: string;
  kernel: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  freeMemoryGiB: number;
  node: string;
  v8: string;
  commit: string | null;
  loadAverage: number[];
}

export function describeMachine(): Machine {
  const cpuList = cpus();
  let commit: string | null = null;
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    commit = null;
  }
  let loadAverage: number[] = [];
  try {
    loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    loadAverage = [];
  }
  return {
    hostname: hostname(),
    kernel: `${process.platform} ${release()}`,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    cores: cpuList.length,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    freeMemoryGiB: +(freemem() / 2 ** 30).toFixed(1),
    node: process.version,
    v8: process.versions.v8,
    commit,
    loadAverage,
  };
}
