import { transferFailed } from '../errors.js';
import type { TransferError, TransferMethod } from './types.js';

/** Adds how far the transfer got to an error on its way out. */
export function withProgress(error: unknown, bytes: number, method?: TransferMethod): TransferError {
  const failure = transferFailed(error) as TransferError;
  failure.bytesTransferred = bytes;
  if (method !== undefined) failure.method = method;
  return failure;
}
