// A FileHandle that nobody closed is closed by the garbage collector, with a DEP0137
// warning, at some random later moment: the descriptor was held far longer than meant, and
// a leak like that grows under load. Any such warning fails the test run, whether it comes
// from the test process (importing this module installs the listener) or from a server a
// test spawned (its stderr goes through reportServerLeaks()).

/** What Node prints, and puts in `warning.code`, when the collector closes a FileHandle. */
export const FILE_HANDLE_LEAK = 'DEP0137';

const INSTALLED = Symbol.for('zerocopy.test.fileHandleLeaks');
const state = globalThis as typeof globalThis & { [INSTALLED]?: true };

/**
 * Fails the run from outside whatever test is running: the leak happened at some earlier
 * moment, and no one test owns it. An uncaught exception fails the test file.
 */
function fail(message: string): void {
  setImmediate(() => {
    throw new Error(message);
  });
}

if (state[INSTALLED] === undefined) {
  state[INSTALLED] = true;
  process.on('warning', (warning: Error & { code?: string }) => {
    if (warning.code === FILE_HANDLE_LEAK)
      fail(`a FileHandle was left for the garbage collector to close (${FILE_HANDLE_LEAK}): ${warning.message}`);
  });
}

/** Fails the run if a spawned process's stderr has a DEP0137 warning in it. */
export function reportServerLeaks(name: string, stderr: string): void {
  if (stderr.includes(FILE_HANDLE_LEAK))
    fail(`${name} left a FileHandle for the garbage collector to close (${FILE_HANDLE_LEAK}):\n${stderr}`);
}
