// Preloaded (node --expose-gc --import) into the servers tests spawn: on SIGUSR2 the server
// collects its garbage, then says so on stderr. A FileHandle that some path forgot to close
// is then closed by the collector with a DEP0137 warning printed before the marker, so a test
// can tell whether the traffic it sent leaked one.

/** Printed on stderr once a requested collection is over. */
export const COLLECTED_MARKER = 'zerocopy-test: garbage collected';

const collect = (globalThis as { gc?: () => void }).gc;

if (collect !== undefined) {
  process.on('SIGUSR2', () => {
    collect();
    // The collector closes a forgotten FileHandle in a callback after the collection, and
    // Node emits the warning on a later tick: give both a moment, collect once more, report.
    setTimeout(() => {
      collect();
      setTimeout(() => process.stderr.write(`${COLLECTED_MARKER}\n`), 20);
    }, 20);
  });
}
