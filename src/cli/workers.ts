// The primary process of `--workers N`: keeps N workers running and shuts them down together.
import cluster, { type Worker } from 'node:cluster';

/**
 * Forks `count` workers and replaces one that dies (the others keep serving meanwhile). On
 * SIGTERM or SIGINT it passes the signal on, exits once every worker has, and exits anyway
 * when the workers' own shutdown deadline has passed.
 */
export function superviseWorkers(
  command: string,
  count: number,
  shutdownTimeoutMs: number,
  onWorkerExit: (worker: Worker) => void = () => {},
): void {
  let stopping = false;
  cluster.on('exit', (worker, code, signal) => {
    onWorkerExit(worker);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    process.stderr.write(
      `zerocopy ${command}: worker ${worker.process.pid} exited (${signal ?? code}), starting another\n`,
    );
    cluster.fork();
  });
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), shutdownTimeoutMs + 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  for (let i = 0; i < count; i++) cluster.fork();
}
