// How many connections the client and peer ports accept at once. Every connection holds a file
// descriptor; a client that opens enough of them (idle keep-alive sockets, slow watchers) would
// leave none for the log: the next segment or snapshot file fails to open and the node stops on a
// storage error. So the ports stop accepting below the process's open-files limit, keeping a
// reserve for storage, peers' outgoing links and the runtime itself; past the bound a new
// connection is closed at once (Node's server.maxConnections) and counted.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:net';
import type { Logger } from './logger.js';

/** File descriptors kept out of the ports' budget: segments, snapshots, peer links, the runtime. */
export const RESERVED_FILES = 512;
/** The peer port's share of the budget (other members' streams, requests and snapshot transfers). */
const PEER_SHARE = 0.1;
const MIN_CLIENT = 64;
const MIN_PEER = 32;

/** The soft open-files limit of this process (Linux /proc), or null when it cannot be read or is unlimited. */
export function openFilesLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (m === null || m[1] === 'unlimited') return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
}

export interface ConnectionLimits {
  client: number | null;
  peer: number | null;
}

/**
 * The bounds for both ports: `clientFlag` (--max-connections) when given, else what the open-files
 * limit leaves after the reserve, nine tenths to clients and a tenth to peers; no bound when the
 * limit is unknown.
 */
export function connectionLimits(fileLimit: number | null, clientFlag?: number): ConnectionLimits {
  const budget = fileLimit === null ? null : Math.max(0, fileLimit - RESERVED_FILES);
  const peer = budget === null ? null : Math.max(MIN_PEER, Math.floor(budget * PEER_SHARE));
  const client = clientFlag ?? (budget === null ? null : Math.max(MIN_CLIENT, budget - (peer ?? 0)));
  return { client, peer };
}

/** How often a port under a flood logs that it drops connections (the counter has every one). */
const DROP_LOG_INTERVAL_MS = 10_000;

/**
 * Bounds `server`'s open connections (no bound for null); every connection refused at the bound
 * is counted by `onDrop`, and logged at most once per interval with the count since the last line.
 */
export function limitConnections(server: Server, port: 'client' | 'peer', limit: number | null, logger: Logger, onDrop: () => void, now: () => number = Date.now): void {
  if (limit === null) return;
  server.maxConnections = limit;
  let dropped = 0;
  let lastLog = -Infinity;
  server.on('drop', () => {
    onDrop();
    dropped++;
    if (now() - lastLog < DROP_LOG_INTERVAL_MS) return;
    logger.warn('connections refused: the port is at its limit', { port, limit, refused: dropped });
    dropped = 0;
    lastLog = now();
  });
}
