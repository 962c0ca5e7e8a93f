/** The error an aborted operation rejects with, shaped like Node's own (`AbortError`, code 'ABORT_ERR'). */
export function abortError(signal: AbortSignal): Error {
  const error = new Error('The operation was aborted', { cause: signal.reason }) as Error & { code: string };
  error.name = 'AbortError';
  error.code = 'ABORT_ERR';
  return error;
}
