import type { TransferError, TransferMethod } from './types.js';

/** Adds how far the transfer got to an error on its way out. */
export function withProgress(error: unknown, bytes: number, method?: TransferMethod): TransferError {
  const failure = (error instanceof Error ? error : new Error(String(error))) as TransferError;
  if (typeof failure.code !== 'string') failure.code = 'ERR_ZEROCOPY_TRANSFER';
  failure.bytesTransferred = bytes;
  if (method !== undefined) failure.method = method;
  return failure;
}

function coded(message: string, code: string): TransferError {
  const error = new Error(message) as TransferError;
  error.code = code;
  error.bytesTransferred = 0;
  return error;
}

/** The source ended before `expected` bytes: a file shrank, or a stream closed early. */
export function sourceEnded(kind: 'file' | 'stream', moved: number, expected: number): TransferError {
  return kind === 'file'
    ? coded(
        `The source file ended after ${moved} of ${expected} bytes: it was truncated while being transferred`,
        'ERR_ZEROCOPY_SOURCE_TRUNCATED',
      )
    : coded(`The source ended after ${moved} of ${expected} bytes`, 'ERR_ZEROCOPY_SOURCE_ENDED');
}

export function sameFile(): TransferError {
  return coded('The source and the destination are the same file', 'ERR_ZEROCOPY_SAME_FILE');
}

export function destinationClosed(): TransferError {
  return coded('The destination socket was closed before the transfer finished', 'ERR_ZEROCOPY_DESTINATION_CLOSED');
}
