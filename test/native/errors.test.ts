import assert from 'node:assert/strict';
import { closeSync, readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';

import { check, systemError } from '../../src/errors.js';
import {
  ARGUMENT_ERROR_CODES,
  close,
  copyFileRange,
  fadvise,
  pipe,
  sendfile,
  socketPair,
  splice,
  ZEROCOPY_ERROR_CODES,
} from '../../src/index.js';
import { closeAfter, wrongType } from '../support/fixtures.js';

/** The error `call` throws; fails the test if it does not throw. */
function thrown(call: () => unknown): NodeJS.ErrnoException {
  try {
    call();
  } catch (error) {
    assert.ok(error instanceof Error);
    return error as NodeJS.ErrnoException;
  }
  assert.fail('expected the call to throw');
}

/** A descriptor number that is closed right now (until the next open takes it again). */
function closedDescriptor(t: TestContext): number {
  const [left] = closeAfter(t, socketPair());
  close(left);
  return left;
}

describe('system errors', () => {
  it("look like Node's: code, negative errno, syscall, and 'CODE: description, syscall'", (t) => {
    const [, writeEnd] = closeAfter(t, pipe());
    const fd = closedDescriptor(t);
    const error = thrown(() => sendfile(writeEnd, fd, 0, 1));
    assert.equal(error.code, 'EBADF');
    assert.equal(error.errno, -constants.errno.EBADF);
    assert.equal(error.syscall, 'sendfile');
    assert.equal(error.message, 'EBADF: bad file descriptor, sendfile');
    assert.equal(error.name, 'Error');
    assert.equal(getSystemErrorName(error.errno ?? 0), error.code);
    assert.equal(Object.hasOwn(error, 'path'), false);
  });

  it("match Node's own fs error for the same failure, field by field", (t) => {
    const fd = closedDescriptor(t);
    const ours = thrown(() => close(fd));
    const nodes = thrown(() => closeSync(fd));
    assert.equal(ours.message, nodes.message);
    assert.equal(ours.code, nodes.code);
    assert.equal(ours.errno, nodes.errno);
    assert.equal(ours.syscall, nodes.syscall);
  });

  it('name the system call that failed', (t) => {
    const [readEnd] = closeAfter(t, pipe());
    assert.equal(thrown(() => splice(readEnd, 0, readEnd, null, 1)).syscall, 'splice');
    assert.equal(thrown(() => copyFileRange(readEnd, null, readEnd, null, 1)).syscall, 'copy_file_range');
  });

  it('have a stack that starts at the caller, not inside the error helper', (t) => {
    const fd = closedDescriptor(t);
    const error = thrown(() => close(fd));
    const firstFrame = error.stack?.split('\n')[1] ?? '';
    assert.doesNotMatch(firstFrame, /systemError/);
  });

  it('carry path and dest when given, in the message as Node does', () => {
    const error = systemError(-constants.errno.EXDEV, 'copy_file_range', { path: '/a', dest: '/b' });
    assert.equal(error.message, "EXDEV: cross-device link not permitted, copy_file_range '/a' -> '/b'");
    assert.equal(error.path, '/a');
    assert.equal(error.dest, '/b');
  });

  it('name an errno Node does not know without inventing a code', () => {
    const error = systemError(-4242, 'ioctl');
    assert.equal(error.code, getSystemErrorName(-4242));
    assert.equal(error.errno, -4242);
    assert.match(error.message, /^Unknown system error -4242: .*, ioctl$/);
  });

  it('check() passes results >= 0 through and throws for negative ones', () => {
    assert.equal(check(0, 'x'), 0);
    assert.equal(check(12345, 'x'), 12345);
    assert.throws(() => check(-constants.errno.EAGAIN, 'send'), {
      code: 'EAGAIN',
      errno: -constants.errno.EAGAIN,
      syscall: 'send',
      message: 'EAGAIN: resource temporarily unavailable, send',
    });
  });
});

describe('argument errors', () => {
  it('ERR_INVALID_ARG_TYPE is a TypeError worded as Node words it', () => {
    const ours = thrown(() => close(wrongType('3')));
    const nodes = thrown(() => closeSync(wrongType('3')));
    assert.ok(ours instanceof TypeError);
    assert.equal(ours.code, 'ERR_INVALID_ARG_TYPE');
    assert.equal(ours.message, nodes.message);
  });

  it('ERR_OUT_OF_RANGE is a RangeError that says the range and what it got', () => {
    const error = thrown(() => sendfile(1, 0, -5, 1));
    assert.ok(error instanceof RangeError);
    assert.equal(error.code, 'ERR_OUT_OF_RANGE');
    assert.equal(
      error.message,
      `The value of "offset" is out of range. It must be an integer >= 0 && <= ${Number.MAX_SAFE_INTEGER}. Received -5`,
    );
    assert.match(thrown(() => sendfile(1, 0, -5n, 1)).message, /Received -5n$/);
  });

  it('ERR_INVALID_ARG_VALUE is a TypeError naming the allowed values', () => {
    // fadvise checks its advice before it touches the descriptor.
    const value = thrown(() => fadvise(0, wrongType('forget')));
    assert.ok(value instanceof TypeError);
    assert.equal(value.code, 'ERR_INVALID_ARG_VALUE');
    assert.match(
      value.message,
      /^The argument 'advice' must be one of: 'normal', .*Received type string \('forget'\)$/,
    );
  });

  it('describe the value they received, shortening long strings', () => {
    const error = thrown(() => close(wrongType('x'.repeat(40))));
    assert.match(error.message, /Received type string \('x{25}\.\.\.'\)$/);
    assert.match(thrown(() => close(wrongType(null))).message, /Received null$/);
    assert.match(thrown(() => close(wrongType(new Map()))).message, /Received an instance of Map$/);
    assert.match(thrown(() => close(wrongType(close))).message, /Received function close$/);
  });
});

/** The TypeScript sources and native sources of the package, from the repository's root. */
const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

function sourceFiles(folder: string, extensions: RegExp): string[] {
  return readdirSync(`${repositoryRoot}${folder}`, { recursive: true, encoding: 'utf8' })
    .filter((name) => extensions.test(name))
    .map((name) => `${folder}/${name}`);
}

/** ERR_ZEROCOPY_* string literals in code (comments, which only name codes, are left out). */
function codeLiterals(file: string): string[] {
  const code = readFileSync(`${repositoryRoot}${file}`, 'utf8')
    .split('\n')
    .filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line))
    .join('\n');
  return [...code.matchAll(/['"`](ERR_ZEROCOPY_[A-Z_]+)/g)].map((match) => match[1] ?? '');
}

describe('error codes', () => {
  const own: readonly string[] = ZEROCOPY_ERROR_CODES;

  it('are made only in src/errors.ts: no other TypeScript source spells one out', () => {
    const elsewhere = sourceFiles('src', /\.ts$/)
      .filter((file) => file !== 'src/errors.ts')
      .flatMap((file) => codeLiterals(file).map((code) => `${file}: ${code}`));
    assert.deepEqual(elsewhere, []);
  });

  it('made anywhere (src/errors.ts, the addon) are in ZEROCOPY_ERROR_CODES, each listed once and made', () => {
    const spelled = [
      ...codeLiterals('src/errors.ts'),
      ...sourceFiles('native', /\.(cc|h)$/).flatMap((file) => codeLiterals(file)),
    ];
    assert.deepEqual(
      spelled.filter((code) => !own.includes(code)),
      [],
    );
    assert.equal(new Set(own).size, own.length);
    // Once in the list, and at least once where an error is made: a code spelled only once is a stale entry.
    assert.deepEqual(
      own.filter((code) => spelled.filter((other) => other === code).length < 2),
      [],
    );
  });

  it('are each documented in docs/errors.md, which documents no other', () => {
    const page = readFileSync(`${repositoryRoot}docs/errors.md`, 'utf8');
    const documented = new Set([...page.matchAll(/ERR_ZEROCOPY_[A-Z_]+/g)].map((match) => match[0]));
    for (const code of [...own, ...ARGUMENT_ERROR_CODES])
      assert.match(page, new RegExp(`^#+ \`${code}\``, 'm'), `docs/errors.md has no heading for ${code}`);
    assert.deepEqual(
      [...documented].filter((code) => !own.includes(code)),
      [],
    );
  });
});
