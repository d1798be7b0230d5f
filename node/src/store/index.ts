// The configuration store's public surface: what the server and the CLI may import.
export * from './errors.js';
export {
  MAX_KEY_BYTES,
  compareKeys,
  isValidKey,
  isWellFormed,
  utf8ByteLength,
  validateKey,
  validatePrefix,
} from './keys.js';
export {
  COMMAND_FORMAT,
  MAX_CONTENT_TYPE_BYTES,
  decodeCommand,
  encodeCommand,
  validateContentType,
} from './commands.js';
export type {
  Command,
  CommandType,
  CompactCommand,
  DeleteCommand,
  PutCommand,
  RollbackCommand,
} from './commands.js';
export type * from './types.js';
export { KvStore } from './kv-store.js';
export type { AppliedChanges, ChangeFeed, StoreListener } from './kv-store.js';
export { WATCH_BATCH_MAX, WatchHub, Watcher } from './watch-hub.js';
export type { WatchEvent, WatchOptions, WatchStart } from './watch-hub.js';
