import type { SenderContender } from '../lib/trial.js';
import type { Context, Skip } from '../lib/types.js';

/** The baseline of scenarios 1 and 2: Node's own stream path. */
export const BASELINE = 'node-pipeline';
export const TRANSFER = 'zerocopy-transfer';

const NODE: SenderContender[] = [
  { id: BASELINE, label: 'Node stream.pipeline (64 KiB)', kind: 'node', method: 'pipeline' },
  { id: 'node-readwrite', label: 'Node read() + socket.write()', kind: 'node', method: 'readwrite' },
  {
    id: 'node-readwrite-sync',
    label: 'Node readSync() + writeSync(), blocking',
    kind: 'node',
    method: 'readwrite-sync',
  },
  { id: 'node-mmap', label: 'Node mmap() + socket.write()', kind: 'node', method: 'mmap' },
  { id: 'node-sendfile', label: 'zerocopy sendfile() primitive, blocking', kind: 'zerocopy', method: 'sendfile' },
  { id: 'node-splice', label: 'zerocopy splice() primitive, blocking', kind: 'zerocopy', method: 'splice' },
  { id: TRANSFER, label: 'zerocopy transfer()', kind: 'zerocopy', method: 'transfer' },
];

const C: SenderContender[] = [
  { id: 'c-rw64k', label: 'C read/write 64 KiB', kind: 'c', method: 'rw64k' },
  { id: 'c-rw1m', label: 'C read/write 1 MiB', kind: 'c', method: 'rw1m' },
  { id: 'c-mmap', label: 'C mmap + write', kind: 'c', method: 'mmap' },
  { id: 'c-sendfile', label: 'C sendfile', kind: 'c', method: 'sendfile' },
  { id: 'c-sendfile-epoll', label: 'C sendfile, non-blocking + epoll (as nginx)', kind: 'c', method: 'sendfile-epoll' },
  { id: 'c-splice', label: 'C splice', kind: 'c', method: 'splice' },
];

/** The contenders that can run here; the others go to `skipped` with the reason. */
export function senderContenders(ctx: Context, skipped: Skip[]): SenderContender[] {
  const out: SenderContender[] = [];
  if (ctx.tools.sender === null) {
    skipped.push({
      contender: 'all loopback senders (the C sink receives every trial)',
      reason: ctx.tools.missing.sender ?? 'no C compiler',
    });
    return out;
  }
  for (const contender of NODE) {
    if (contender.kind === 'zerocopy' && ctx.tools.library === null) {
      skipped.push({ contender: contender.label, reason: ctx.tools.missing.library ?? 'library not built' });
    } else if (contender.method === 'transfer' && typeof ctx.tools.library?.transfer !== 'function') {
      skipped.push({
        contender: contender.label,
        reason: 'dist/src/index.js does not export transfer() yet (src/transfer/ is being built)',
      });
    } else {
      out.push(contender);
    }
  }
  return [...out, ...C];
}
