import { getSystemErrorMap } from 'node:util';

/** A failed system call, shaped like Node's own `fs` errors: branch on `code`. */
export interface SystemError extends Error {
  code: string;
  /** Negative, as in Node (`-11` for EAGAIN). */
  errno: number;
  syscall: string;
  path?: string;
  dest?: string;
}

/** Node's own argument codes, which the checks before any system call throw. */
export const ARGUMENT_ERROR_CODES = ['ERR_INVALID_ARG_TYPE', 'ERR_INVALID_ARG_VALUE', 'ERR_OUT_OF_RANGE'] as const;

/**
 * Every code this library adds to Node's own, each made by one constructor below (docs/errors.md
 * says what each means). The native front reports ERR_ZEROCOPY_SOURCE_TRUNCATED from C++ too.
 */
export const ZEROCOPY_ERROR_CODES = [
  'ERR_ZEROCOPY_UNSUPPORTED',
  'ERR_ZEROCOPY_ADDON_LOAD',
  'ERR_ZEROCOPY_UNMAPPED',
  'ERR_ZEROCOPY_TRANSFER',
  'ERR_ZEROCOPY_SOURCE_TRUNCATED',
  'ERR_ZEROCOPY_SOURCE_ENDED',
  'ERR_ZEROCOPY_SAME_FILE',
  'ERR_ZEROCOPY_DESTINATION_CLOSED',
  'ERR_ZEROCOPY_REFLINK_UNSUPPORTED',
  'ERR_ZEROCOPY_NOT_A_FILE',
  'ERR_ZEROCOPY_BODY',
  'ERR_ZEROCOPY_IDLE_TIMEOUT',
  'ERR_ZEROCOPY_SOCKET_CLOSED',
  'ERR_ZEROCOPY_PEER_GONE',
  'ERR_ZEROCOPY_CHANNEL_CLOSED',
  'ERR_ZEROCOPY_CHANNEL_BUSY',
  'ERR_ZEROCOPY_CORRUPT_MESSAGE',
  'ERR_ZEROCOPY_MESSAGE_RELEASED',
  'ERR_ZEROCOPY_LOAN_STATE',
  'ERR_ZEROCOPY_FANOUT_ENDED',
  'ERR_ZEROCOPY_CAPTURE_CLOSED',
  'ERR_ZEROCOPY_CAPTURE_RELEASED',
  'ERR_ZEROCOPY_FILTER_SYNTAX',
] as const;

/** The codes of the errors this library makes itself (system errors carry Node's errno names). */
export type ZerocopyErrorCode = (typeof ARGUMENT_ERROR_CODES)[number] | (typeof ZEROCOPY_ERROR_CODES)[number];

export interface ZerocopyError extends Error {
  code: ZerocopyErrorCode;
}

const systemErrors = getSystemErrorMap();

/** Turns the negated errno a native wrapper returned into a Node-style error. */
export function systemError(negatedErrno: number, syscall: string, context: { path?: string; dest?: string } = {}) {
  const [code, description] = systemErrors.get(negatedErrno) ?? [
    `Unknown system error ${negatedErrno}`,
    'unknown error',
  ];
  let message = `${code}: ${description}, ${syscall}`;
  if (context.path !== undefined) message += ` '${context.path}'`;
  if (context.dest !== undefined) message += ` -> '${context.dest}'`;
  const error = new Error(message) as SystemError;
  error.code = code;
  error.errno = negatedErrno;
  error.syscall = syscall;
  if (context.path !== undefined) error.path = context.path;
  if (context.dest !== undefined) error.dest = context.dest;
  Error.captureStackTrace(error, systemError);
  return error;
}

/** Returns a native wrapper's result, or throws the error its negative value stands for. */
export function check(result: number, syscall: string): number {
  if (result < 0) throw systemError(result, syscall);
  return result;
}

export function zerocopyError<T extends Error, C extends ZerocopyErrorCode>(base: T, code: C): T & { code: C } {
  const error = base as T & { code: C };
  error.code = code;
  return error;
}

function withProgress<T extends Error>(error: T, bytesTransferred: number): T & { bytesTransferred: number } {
  return Object.assign(error, { bytesTransferred });
}

function withPaths<T extends Error>(error: T, path: string, dest: string): T & { path: string; dest: string } {
  return Object.assign(error, { path, dest });
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'function') return `function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  const shown =
    typeof value === 'string' ? `'${value.length > 28 ? `${value.slice(0, 25)}...` : value}'` : String(value);
  return `type ${typeof value} (${shown}${typeof value === 'bigint' ? 'n' : ''})`;
}

export function invalidArgType(name: string, expected: string, actual: unknown) {
  return zerocopyError(
    new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`),
    'ERR_INVALID_ARG_TYPE',
  );
}

export function invalidArgValue(name: string, value: unknown, reason: string) {
  return zerocopyError(
    new TypeError(`The argument '${name}' ${reason}. Received ${describe(value)}`),
    'ERR_INVALID_ARG_VALUE',
  );
}

export function outOfRange(name: string, range: string, value: unknown) {
  const shown = typeof value === 'bigint' ? `${value}n` : String(value);
  return zerocopyError(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`),
    'ERR_OUT_OF_RANGE',
  );
}

export function unsupported(what: string, reason: string) {
  return zerocopyError(new Error(`${what} is not available: ${reason}`), 'ERR_ZEROCOPY_UNSUPPORTED');
}

export function addonLoadFailed(message: string) {
  return zerocopyError(new Error(message), 'ERR_ZEROCOPY_ADDON_LOAD');
}

export function unmapped(name: string) {
  return zerocopyError(
    new Error(`The "${name}" mapping has been unmapped; its memory can no longer be used`),
    'ERR_ZEROCOPY_UNMAPPED',
  );
}

/** A transfer failed with an error that had no code of its own (or was not an Error at all). */
export function transferFailed(error: unknown): Error & { code: string } {
  const failure = (error instanceof Error ? error : new Error(String(error))) as Error & { code: string };
  if (typeof failure.code !== 'string') failure.code = 'ERR_ZEROCOPY_TRANSFER';
  return failure;
}

/** transfer(): a source file ended before the bytes asked for (it was truncated meanwhile). */
export function sourceFileTruncated(moved: number, expected: number) {
  return withProgress(
    zerocopyError(
      new Error(`The source file ended after ${moved} of ${expected} bytes: it was truncated while being transferred`),
      'ERR_ZEROCOPY_SOURCE_TRUNCATED',
    ),
    0,
  );
}

/** An HTTP body: the file ended at `position` while it was being sent. */
export function bodyFileTruncated(position: number, bytesTransferred: number) {
  return withProgress(
    zerocopyError(
      new Error(`the file ended at byte ${position} while it was being sent (it shrank)`),
      'ERR_ZEROCOPY_SOURCE_TRUNCATED',
    ),
    bytesTransferred,
  );
}

/** transfer(): a stream source ended before the bytes asked for. */
export function sourceEnded(moved: number, expected: number) {
  return withProgress(
    zerocopyError(new Error(`The source ended after ${moved} of ${expected} bytes`), 'ERR_ZEROCOPY_SOURCE_ENDED'),
    0,
  );
}

/** transfer(): source and destination are one file. */
export function sameFile() {
  return withProgress(
    zerocopyError(new Error('The source and the destination are the same file'), 'ERR_ZEROCOPY_SAME_FILE'),
    0,
  );
}

/** copyFile(): `from` and `to` are one file (also through a link). */
export function sameFileCopy(from: string, to: string) {
  return withPaths(
    zerocopyError(new Error(`'${from}' and '${to}' are the same file`), 'ERR_ZEROCOPY_SAME_FILE'),
    from,
    to,
  );
}

export function destinationClosed() {
  return withProgress(
    zerocopyError(
      new Error('The destination socket was closed before the transfer finished'),
      'ERR_ZEROCOPY_DESTINATION_CLOSED',
    ),
    0,
  );
}

/** transfer() with `reflink: 'always'` on files that cannot share extents. */
export function reflinkUnsupported() {
  return zerocopyError(
    new Error('The file system cannot share extents between these files'),
    'ERR_ZEROCOPY_REFLINK_UNSUPPORTED',
  );
}

/** copyFile() with `reflink: 'always'`: `reason` says why the clone was refused, `errno` is the clone's. */
export function reflinkUnsupportedCopy(from: string, to: string, reason: string, errno: number | undefined) {
  return Object.assign(
    withPaths(
      zerocopyError(
        new Error(`reflink not possible: ${reason}, copy '${from}' -> '${to}'`),
        'ERR_ZEROCOPY_REFLINK_UNSUPPORTED',
      ),
      from,
      to,
    ),
    { errno },
  );
}

/** copyFile(): the source is neither a regular file nor a directory (a FIFO, a device, a socket). */
export function notAFile(from: string, to: string) {
  return withPaths(zerocopyError(new Error(`'${from}' is not a regular file`), 'ERR_ZEROCOPY_NOT_A_FILE'), from, to);
}

/** An HTTP body failed while reading the file: the system error's code, or ERR_ZEROCOPY_BODY without one. */
export function bodyFailed(cause: unknown) {
  const code = (cause as NodeJS.ErrnoException).code ?? 'ERR_ZEROCOPY_BODY';
  const error = new Error(`reading the file failed: ${(cause as Error).message}`, { cause }) as Error & {
    code: string;
  };
  error.code = code;
  return withProgress(error, 0);
}

/** pipeSockets(): nothing moved either way for `ms` milliseconds. */
export function idleTimeout(ms: number) {
  return zerocopyError(new Error(`No bytes moved either way for ${ms} ms`), 'ERR_ZEROCOPY_IDLE_TIMEOUT');
}

/** pipeSockets(): a socket closed before both directions had ended. */
export function socketClosed() {
  return zerocopyError(new Error('A socket closed before both directions finished'), 'ERR_ZEROCOPY_SOCKET_CLOSED');
}

// Shared-memory channels (src/ipc/).

export function peerGone(what: string) {
  return zerocopyError(
    new Error(`The channel's ${what} is gone (it closed or its process died)`),
    'ERR_ZEROCOPY_PEER_GONE',
  );
}

export function channelClosed() {
  return zerocopyError(new Error('The channel is closed'), 'ERR_ZEROCOPY_CHANNEL_CLOSED');
}

export function channelBusy(role: string) {
  return zerocopyError(new Error(`The channel has no free place for a ${role}`), 'ERR_ZEROCOPY_CHANNEL_BUSY');
}

export function corruptMessage(sequence: number) {
  const error = zerocopyError(
    new Error(`Message ${sequence} of the channel is corrupt (its slot does not hold it); it was skipped`),
    'ERR_ZEROCOPY_CORRUPT_MESSAGE',
  );
  return Object.assign(error, { sequence });
}

export function messageReleased() {
  return zerocopyError(
    new Error('The message was released; its view is detached and its slot may hold another message'),
    'ERR_ZEROCOPY_MESSAGE_RELEASED',
  );
}

export function loanState(reason: string) {
  return zerocopyError(new Error(`The loan ${reason}`), 'ERR_ZEROCOPY_LOAN_STATE');
}

/** fanout(): add() after the source ended or end() was called. */
export function fanoutEnded() {
  return zerocopyError(new Error('The fan-out has ended: no destination can join it now'), 'ERR_ZEROCOPY_FANOUT_ENDED');
}

/** capture(): iterating, or reading statistics of, a capture that was closed. */
export function captureClosed() {
  return zerocopyError(new Error('The capture is closed'), 'ERR_ZEROCOPY_CAPTURE_CLOSED');
}

/** capture(): a packet of a batch that was released; its block is the kernel's again. */
export function captureReleased() {
  return zerocopyError(
    new Error('The batch was released; its block belongs to the kernel again and its views are detached'),
    'ERR_ZEROCOPY_CAPTURE_RELEASED',
  );
}

/** compileFilter(): the expression does not compile; `position` is the offset (0-based) of the fault. */
export function filterSyntax(expression: string, position: number, expected: string) {
  const error = zerocopyError(
    new SyntaxError(`Invalid filter expression "${expression}" at position ${position}: ${expected}`),
    'ERR_ZEROCOPY_FILTER_SYNTAX',
  );
  return Object.assign(error, { position, expression });
}
