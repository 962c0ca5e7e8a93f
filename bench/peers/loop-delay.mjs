// Event-loop delay of the process that loads this module (`node --import` it, or import it).
// On SIGUSR2 it writes the histogram since the last SIGUSR2 to $ZC_BENCH_LOOP_DELAY_OUT as
// JSON (milliseconds) and starts a new one.
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const out = process.env.ZC_BENCH_LOOP_DELAY_OUT;
if (out && !globalThis.__zcLoopDelay) {
  globalThis.__zcLoopDelay = true;
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  process.on('SIGUSR2', () => {
    const ms = (ns) => ns / 1e6;
    const report = {
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      mean: ms(histogram.mean),
      count: histogram.count,
    };
    histogram.reset();
    writeFileSync(out, JSON.stringify(report));
  });
}
