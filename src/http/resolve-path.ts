// The root is a jail: from a request-target to an open file that is certainly inside it.
import { type BigIntStats, constants } from 'node:fs';
import { type FileHandle, open, readlink, realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';

export type DotfilesPolicy = 'ignore' | 'deny' | 'allow';

export type HttpFailure = { kind: 'error'; status: 400 | 403 | 404 | 503; reason: string };

export type DecodedPath =
  | {
      kind: 'path';
      /** Decoded, non-empty, never '.' or '..', never containing '/', '\\' or NUL. */
      segments: string[];
      /** The request path ended with '/' (a directory was asked for). */
      trailingSlash: boolean;
      /** The pathname as the client sent it (still percent-encoded), for redirects. */
      rawPathname: string;
    }
  | HttpFailure;

const fail = (status: HttpFailure['status'], reason: string): HttpFailure => ({ kind: 'error', status, reason });

/**
 * Turns a request-target into path segments, refusing every way of saying "go up":
 * `..` plain or percent-encoded (`%2e%2e`, `%2f`), a backslash (`%5c`), NUL bytes,
 * and invalid UTF-8 such as overlong `%c0%ae` (decodeURIComponent rejects it: 400).
 * Double encoding (`%252e%252e`) decodes once to the literal name `%2e%2e`, which is
 * harmless: it is looked up as a file of that name inside the root.
 */
export function decodeRequestPath(target: string | undefined): DecodedPath {
  if (target === undefined || target === '') return fail(400, 'no request target');
  let pathname = target;
  // absolute-form (RFC 9112 §3.2.2), as proxies send it: keep only the path.
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(pathname);
  if (absolute !== null) pathname = pathname.slice(absolute[0].length) || '/';
  const end = pathname.search(/[?#]/);
  if (end !== -1) pathname = pathname.slice(0, end);
  if (!pathname.startsWith('/')) return fail(400, 'request target is not a path');

  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return fail(400, 'invalid percent-encoding or UTF-8 in path');
  }
  // null byte(s)
  if (decoded.includes('\0')) return fail(400, 'NUL byte in path');
  // Not a separator on Linux, but it is one to Windows, to some proxies and to people reading logs.
  if (decoded.includes('\\')) return fail(400, 'backslash in path');

  const segments: string[] = [];
  for (const segment of decoded.split('/')) {
    if (segment === '' || segment === '.') continue;
    // malicious path
    if (segment === '..') return fail(403, 'path goes up out of the root');
    segments.push(segment);
  }
  return { kind: 'path', segments, trailingSlash: decoded.endsWith('/'), rawPathname: pathname };
}

/**
 * The path a request-target names, as the file lookup sees it: percent-decoded, with empty
 * and '.' segments and the query left out ('/%70rivate//x/./y?q' is '/private/x/y'); a
 * trailing '/' is kept. Undefined for a target no lookup accepts (bad encoding, '..', NUL).
 * Match routes that must shadow files on this, not on the target as sent: a check of the raw
 * target lets '/%70rivate/x' through to a file under /private/.
 */
export function requestPath(target: string | undefined): string | undefined {
  // Most targets spell their path one way only: nothing decoded, no empty or '.' segment.
  if (target !== undefined && target.charCodeAt(0) === 0x2f && !/%|\/\/|\/\.|\\|#/.test(target)) {
    const query = target.indexOf('?');
    return query === -1 ? target : target.slice(0, query);
  }
  const decoded = decodeRequestPath(target);
  if (decoded.kind !== 'path') return undefined;
  const path = `/${decoded.segments.join('/')}`;
  return decoded.trailingSlash && decoded.segments.length > 0 ? `${path}/` : path;
}

/** The first dotfile segment in `segments`, if any, judged by `policy`. */
export function checkDotfiles(segments: readonly string[], policy: DotfilesPolicy): HttpFailure | undefined {
  if (policy === 'allow') return undefined;
  if (!segments.some((segment) => segment.startsWith('.'))) return undefined;
  return policy === 'deny' ? fail(403, 'dotfile') : fail(404, 'dotfile (hidden)');
}

/** `root` joined with already-checked segments; never outside `root` lexically. */
export function joinInRoot(root: string, segments: readonly string[]): string {
  return segments.length === 0 ? root : join(root, ...segments);
}

/** Is `path` the directory `root` or under it? (A sibling `/srv/www-private` is not under `/srv/www`.) */
export function isInside(root: string, path: string): boolean {
  if (path === root) return true;
  const prefix = root.endsWith(sep) ? root : root + sep;
  return path.startsWith(prefix);
}

export interface Jail {
  /** realpath() of the root, symlinks resolved. */
  realRoot: string;
  /** Follow symlinks that lead out of the root (off by default). */
  allowSymlinksOutside: boolean;
}

export type Opened =
  | { kind: 'file'; file: FileHandle; path: string; stat: BigIntStats }
  | { kind: 'directory'; path: string }
  | HttpFailure;

function failureFor(error: unknown): HttpFailure {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
    case 'ELOOP':
      return fail(404, `not found (${code})`);
    case 'EACCES':
    case 'EPERM':
      return fail(403, `not readable (${code})`);
    case 'EMFILE':
    case 'ENFILE':
      return fail(503, `out of descriptors (${code})`);
    default:
      return fail(404, `cannot open (${code ?? 'unknown error'})`);
  }
}

/** Where the open descriptor really points; /proc names the file we hold, whatever the path does now. */
async function realPathOf(file: FileHandle, path: string): Promise<string> {
  try {
    return await readlink(`/proc/self/fd/${file.fd}`);
  } catch {
    return realpath(path);
  }
}

/**
 * Opens `path` (O_NONBLOCK so that a FIFO planted in the root cannot hang the thread pool)
 * and, under a jail, checks where the *open descriptor* leads rather than where the path
 * led a moment ago: a symlink swapped between a check and the open cannot smuggle a file in.
 */
export async function openForServing(path: string, jail: Jail | undefined): Promise<Opened> {
  let file: FileHandle;
  try {
    file = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    return failureFor(error);
  }
  try {
    // fstat and the /proc lookup go to the thread pool together: one round trip instead of two.
    // allSettled, not all: the descriptor must stay open until both are done with its number.
    const jailed = jail !== undefined && !jail.allowSymlinksOutside ? jail : undefined;
    const [statted, located] = await Promise.allSettled([
      file.stat({ bigint: true }),
      jailed === undefined ? Promise.resolve(path) : realPathOf(file, path),
    ]);
    if (statted.status === 'rejected') throw statted.reason;
    const stat = statted.value;
    if (jailed !== undefined) {
      if (located.status === 'rejected') throw located.reason;
      if (!isInside(jailed.realRoot, located.value)) {
        await file.close();
        return fail(403, 'symlink leads outside the root');
      }
    }
    if (stat.isDirectory()) {
      await file.close();
      return { kind: 'directory', path };
    }
    if (!stat.isFile()) {
      await file.close();
      return fail(404, 'not a regular file');
    }
    return { kind: 'file', file, path, stat };
  } catch (error) {
    await file.close().catch(() => undefined);
    return failureFor(error);
  }
}
