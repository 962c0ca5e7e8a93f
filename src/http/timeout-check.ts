// How often a server looks for connections past their timeouts.

/**
 * How often timeouts are checked (the front's sweep, and node:http's
 * connectionsCheckingInterval): a fraction of the shortest, so that a connection is closed
 * within a quarter of its timeout, and at least once a second.
 */
export function timeoutCheckInterval(...timeoutsMs: number[]): number {
  const shortest = Math.min(...timeoutsMs.filter((ms) => ms > 0));
  return Number.isFinite(shortest) ? Math.max(25, Math.min(1000, Math.floor(shortest / 4))) : 1000;
}
