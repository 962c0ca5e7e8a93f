// The channel errors: made in src/errors.ts with every other code. Branch on `code`.
import { systemError } from '../errors.js';

export {
  channelBusy,
  channelClosed,
  corruptMessage,
  loanState,
  messageReleased,
  peerGone,
} from '../errors.js';

/** An unexpected negative result of a native channel call. */
export function nativeFailure(result: number, operation: string) {
  return systemError(result, operation);
}
