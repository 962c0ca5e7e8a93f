export { Batch } from './batch.js';
export {
  Channel,
  type ChannelHandle,
  createChannel,
  type OpenChannelSource,
  openChannel,
  type RoleOptions,
} from './channel.js';
export { Message } from './message.js';
export {
  type ChannelMode,
  type ChannelOptions,
  channelLimits,
  type OverflowPolicy,
} from './options.js';
export { Loan, Producer, type WaitOptions } from './producer.js';
export { receiveChannel, sendChannel } from './sharing.js';
export { type BatchOptions, Subscriber } from './subscriber.js';
