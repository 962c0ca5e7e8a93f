import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `zerocopy bench [scenario...] [--quick] [--json]`: runs the benchmark runner
 * (dist/bench/run.js) in its own process. The bench lives in the repository, not in the
 * published package, so this works from a checkout that has been built.
 */
export function bench(args: string[]): number {
  const runner = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'run.js');
  if (!existsSync(runner)) {
    process.stderr.write(
      `zerocopy bench: ${runner} is missing. The benchmarks ship with the repository, not the package:\n` +
        '  git clone the repository, then: npm install && npm run bench\n',
    );
    return 1;
  }
  const result = spawnSync(process.execPath, [runner, ...args], { stdio: 'inherit' });
  if (result.error) throw result.error;
  return result.status ?? 1;
}
