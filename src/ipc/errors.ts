// The channel errors, built in one place. Branch on `code`.
import { systemError, zerocopyError } from '../errors.js';

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

/** An unexpected negative result of a native channel call. */
export function nativeFailure(result: number, operation: string) {
  return systemError(result, operation);
}
