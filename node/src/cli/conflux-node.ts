#!/usr/bin/env node
// `conflux-node`: one Conflux node. Flags in node-flags.ts; wiring in ../main.ts.
import { createLogger, startNode } from '../main.js';
import { parseNodeFlags, usage, UsageError } from './node-flags.js';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    return;
  }
  let flags;
  try {
    flags = parseNodeFlags(argv, process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`conflux-node: ${err.message}\n\n${usage()}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(flags);
  let stopping = false;
  const running = await startNode(flags, logger, (err) => {
    logger.error('fatal error, exiting', { error: err.message });
    process.exit(1);
  }).catch((err: Error) => {
    logger.error('cannot start', { error: err.message });
    // Give winston a moment to flush before exiting.
    setTimeout(() => process.exit(1), 50);
    return null;
  });
  if (!running) return;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error('error while stopping', { error: err.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main();
