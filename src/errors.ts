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

/** Codes this library adds to Node's own. */
export type ZerocopyErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_ZEROCOPY_UNSUPPORTED'
  | 'ERR_ZEROCOPY_ADDON_LOAD'
  | 'ERR_ZEROCOPY_UNMAPPED'
  | 'ERR_ZEROCOPY_PEER_GONE'
  | 'ERR_ZEROCOPY_CHANNEL_CLOSED'
  | 'ERR_ZEROCOPY_CHANNEL_BUSY'
  | 'ERR_ZEROCOPY_CORRUPT_MESSAGE'
  | 'ERR_ZEROCOPY_MESSAGE_RELEASED'
  | 'ERR_ZEROCOPY_LOAN_STATE';

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

export function zerocopyError<T extends Error>(base: T, code: ZerocopyErrorCode): T & ZerocopyError {
  const error = base as T & ZerocopyError;
  error.code = code;
  return error;
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
