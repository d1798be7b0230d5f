// The operator logs through the same small surface as the node: main.ts passes a winston logger
// (it satisfies it); tests pass `silentLogger` or a recorder.
export { silentLogger, type LogMeta, type Logger } from '../../node/src/server/logger.js';
