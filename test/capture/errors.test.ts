import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { capture } from '../../src/capture/capture.js';
import type { BpfProgram } from '../../src/capture/program.js';

// Accepts nothing: these captures on the loopback interface never see a packet.
const REJECT_ALL: BpfProgram = [{ code: 0x06, jt: 0, jf: 0, k: 0 }];
const quiet = { interface: 'lo', filter: REJECT_ALL, promiscuous: false, ring: { blockSize: 65536, blocks: 2 } };
const root = process.getuid?.() === 0;
const needsRoot = root ? false : 'opening a packet socket needs CAP_NET_RAW (run as root)';

describe('capture() errors', () => {
  it('names a missing interface (ENODEV)', () => {
    assert.throws(
      () => capture({ interface: 'zcnosuch0' }),
      (error: NodeJS.ErrnoException) => {
        assert.equal(error.code, 'ENODEV');
        assert.equal(error.syscall, 'if_nametoindex');
        assert.match(error.message, /no network interface named 'zcnosuch0'/);
        return true;
      },
    );
  });

  it('says CAP_NET_RAW is needed (EPERM)', (t) => {
    const setpriv = spawnSync('sh', ['-c', 'command -v setpriv'], { encoding: 'utf8' }).stdout.trim();
    if (!root || setpriv === '') {
      t.skip('needs root and setpriv(1) to run a child without CAP_NET_RAW');
      return;
    }
    const module = fileURLToPath(new URL('../../src/capture/capture.js', import.meta.url));
    const script = `import(${JSON.stringify(module)}).then(({ capture }) => {
      try { capture({ interface: 'lo' }); console.log('{}'); }
      catch (error) { console.log(JSON.stringify({ code: error.code, syscall: error.syscall, message: error.message })); }
    })`;
    const child = spawnSync(
      setpriv,
      // Still root (so it can read a checkout only root may read), but without CAP_NET_RAW in any set.
      ['--bounding-set=-net_raw', '--inh-caps=-net_raw', process.execPath, '-e', script],
      { encoding: 'utf8', timeout: 20_000 },
    );
    const result = JSON.parse(child.stdout.trim() || '{}') as { code?: string; syscall?: string; message?: string };
    assert.equal(result.code, 'EPERM', child.stderr);
    assert.equal(result.syscall, 'socket');
    assert.match(result.message ?? '', /CAP_NET_RAW/);
  });

  it('puts the limits in the message when the kernel refuses the ring', { skip: needsRoot }, () => {
    // Page-aligned, so only the kernel can refuse it: a block must be below 2 GiB.
    assert.throws(
      () => capture({ ...quiet, ring: { blockSize: 2 ** 31, blocks: 1 } }),
      (error: NodeJS.ErrnoException) => {
        assert.equal(error.code, 'EINVAL');
        assert.equal(error.syscall, 'setsockopt');
        assert.match(error.message, /1 blocks of 2147483648 bytes/);
        assert.match(error.message, /multiple of the page size/);
        return true;
      },
    );
  });

  it('rejects bad options before any system call', () => {
    assert.throws(() => capture({ interface: 'lo', ring: { blockSize: 1000 } }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => capture({ interface: 'lo', ring: { blockSize: 4096 * 3 + 8 } }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
    assert.throws(() => capture({ interface: 'lo', snapLength: 0 }), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => capture({ interface: '' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => capture({ interface: 'lo', direction: 'up' as 'in' }), { code: 'ERR_INVALID_ARG_VALUE' });
    assert.throws(() => capture({ interface: 'lo', filter: [{ code: 6, jt: 0, jf: 0, k: -1 }] }), {
      code: 'ERR_INVALID_ARG_VALUE',
    });
    assert.throws(() => capture({ interface: 'lo', fanout: { group: 70000 } }), { code: 'ERR_OUT_OF_RANGE' });
  });

  it('reports a program the kernel refuses (EINVAL from SO_ATTACH_FILTER)', { skip: needsRoot }, () => {
    // A jump past the end of the program.
    const filter: BpfProgram = [{ code: 0x15, jt: 5, jf: 5, k: 0 }, ...REJECT_ALL];
    assert.throws(() => capture({ ...quiet, filter }), { code: 'EINVAL', syscall: 'setsockopt' });
  });

  it('throws ERR_ZEROCOPY_CAPTURE_CLOSED when a closed capture is iterated', { skip: needsRoot }, async () => {
    const session = capture(quiet);
    session.close();
    session.close();
    await assert.rejects(
      async () => {
        for await (const _ of session) assert.fail('a closed capture has no batches');
      },
      { code: 'ERR_ZEROCOPY_CAPTURE_CLOSED' },
    );
    assert.deepEqual(await session.next(), { value: undefined, done: true });
    assert.deepEqual(session.stats(), { received: 0, dropped: 0, freezes: 0, delivered: 0 });
  });

  it('ends a pending iteration on close()', { skip: needsRoot }, async () => {
    const session = capture(quiet);
    const pending = session.next();
    setTimeout(() => session.close(), 20);
    assert.deepEqual(await pending, { value: undefined, done: true });
  });

  it('rejects a pending iteration with AbortError when the signal aborts', { skip: needsRoot }, async () => {
    const controller = new AbortController();
    const session = capture({ ...quiet, signal: controller.signal });
    const pending = session.next();
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, { name: 'AbortError', code: 'ABORT_ERR' });
    assert.equal(session.closed, true);
    assert.throws(() => capture({ ...quiet, signal: controller.signal }), { name: 'AbortError' });
  });

  it('names the position of a filter expression that does not compile, before any system call', () => {
    assert.throws(
      () => capture({ interface: 'zcnosuch0', filter: 'udp and and port 53' }),
      (error: Error & { position?: number; code?: string }) => {
        assert.equal(error.code, 'ERR_ZEROCOPY_FILTER_SYNTAX');
        assert.equal(typeof error.position, 'number');
        assert.match(error.message, /position \d+/);
        return true;
      },
    );
  });
});
