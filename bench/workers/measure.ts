// What a worker reports about the span it measured: wall time, CPU and context switches of
// this process, read the same way by every worker so that their figures compare.

export interface Span {
  wallNs: number;
  userUs: number;
  sysUs: number;
  voluntaryCtx: number;
  involuntaryCtx: number;
}

/** Starts a span now; calling the result ends it. */
export function startSpan(): () => Span {
  const before = process.resourceUsage();
  const started = process.hrtime.bigint();
  return () => {
    const wallNs = Number(process.hrtime.bigint() - started);
    const after = process.resourceUsage();
    return {
      wallNs,
      userUs: after.userCPUTime - before.userCPUTime,
      sysUs: after.systemCPUTime - before.systemCPUTime,
      voluntaryCtx: after.voluntaryContextSwitches - before.voluntaryContextSwitches,
      involuntaryCtx: after.involuntaryContextSwitches - before.involuntaryContextSwitches,
    };
  };
}
