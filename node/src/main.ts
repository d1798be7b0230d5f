// The composition root: the only module that picks winston, prom-client, express and classic-level
// concretely (through runtime.ts). Everything below depends on small interfaces.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import winston from 'winston';
import type { NodeFlags } from './cli/node-flags.js';
import { parseClientTokens, readSingleToken, tokenAuthorizer } from './server/auth.js';
import { createClientServerApp } from './server/http/app.js';
import { attachClientErrorHandler } from './server/http/client-errors.js';
import { connectionLimits, limitConnections, openFilesLimit } from './server/connection-limits.js';
import type { Authorize } from './server/http/types.js';
import type { Logger } from './server/logger.js';
import { NodeMetrics } from './server/metrics.js';
import { HistoryRetention } from './server/retention.js';
import { openRuntime, type NodeRuntime } from './server/runtime.js';
import { systemClock } from './server/clock.js';

export interface RunningNode {
  runtime: NodeRuntime;
  clientPort: number;
  peerPort: number;
  close(): Promise<void>;
}

export function createLogger(flags: Pick<NodeFlags, 'id' | 'logLevel' | 'logFormat'>): winston.Logger {
  const format =
    flags.logFormat === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.printf(({ timestamp, level, message, node, ...meta }) => {
            const rest = Object.keys(meta).length ? ' ' + JSON.stringify(meta) : '';
            return `${String(timestamp)} ${String(node)} ${level.padEnd(5)} ${String(message)}${rest}`;
          }),
        );
  const logger = winston.createLogger({
    level: flags.logLevel,
    format,
    defaultMeta: { node: flags.id },
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
  return skipDisabledLevels(logger);
}

/**
 * winston formats every line (timestamp, JSON) before its transports drop the ones below their
 * level: an `info` line per write (the audit trail) costs CPU even at `--log-level warn`. Each
 * level method returns at once when its level is off (checked per call: the level may change).
 */
function skipDisabledLevels(logger: winston.Logger): winston.Logger {
  const target = logger as unknown as Record<string, (...args: unknown[]) => unknown>;
  // winston's own isLevelEnabled builds the transport list on every call (the request log and
  // the audit trail ask on every request): remember its answers until the logger's level or its
  // transports change (the transports' own levels are set once, when created).
  const answers = new Map<string, boolean>();
  const isLevelEnabled = logger.isLevelEnabled;
  logger.isLevelEnabled = function (this: winston.Logger | undefined, level: string): boolean {
    const self = this ?? logger;
    const key = `${self.level}\u0000${level}`;
    let answer = answers.get(key);
    if (answer === undefined) answers.set(key, (answer = isLevelEnabled.call(self, level)));
    return answer;
  };
  for (const method of ['add', 'remove', 'clear', 'configure'] as const) {
    const original = target[method]!;
    target[method] = function (this: unknown, ...args: unknown[]) {
      answers.clear();
      return original.apply(this, args);
    };
  }
  for (const level of Object.keys(logger.levels)) {
    const write = target[level];
    if (typeof write !== 'function') continue;
    // `this` is a child logger when called through one (winston's child() inherits these).
    target[level] = function (this: winston.Logger | undefined, ...args: unknown[]) {
      const self = this ?? logger;
      return self.isLevelEnabled(level) ? write.apply(self, args) : self;
    };
  }
  return logger;
}

/** Auth is on whenever a token file is given (design section 4). */
function authFrom(flags: NodeFlags, logger: Logger): { authorize?: Authorize; peerToken?: string } {
  const adminToken = flags.adminTokenFile ? readSingleToken(flags.adminTokenFile) : undefined;
  const peerToken = flags.peerTokenFile ? readSingleToken(flags.peerTokenFile) : undefined;
  const grants = flags.authTokenFile ? parseClientTokens(readFileSync(flags.authTokenFile, 'utf8'), flags.authTokenFile) : [];
  if (!flags.authTokenFile && !adminToken) {
    logger.warn('authentication is OFF: no --auth-token-file or --admin-token-file (fine for a development cluster only)');
    return { peerToken };
  }
  logger.info('authentication is on', { clientTokens: grants.length, adminToken: adminToken !== undefined, peerToken: peerToken !== undefined });
  return { authorize: tokenAuthorizer({ clientGrants: grants, adminToken }), peerToken };
}

/** Certificates from files (design section 4 style: files, so Secrets can be mounted). */
function tlsFrom(flags: NodeFlags, logger: Logger) {
  const ca = flags.tlsCaFile ? readFileSync(flags.tlsCaFile) : undefined;
  const client = flags.tls ? { cert: readFileSync(flags.tls.certFile), key: readFileSync(flags.tls.keyFile) } : undefined;
  const peer = flags.peerTls ? { cert: readFileSync(flags.peerTls.certFile), key: readFileSync(flags.peerTls.keyFile), requireClientCert: flags.peerClientCertAuth } : undefined;
  if (client || peer) logger.info('TLS is on', { clientPort: client !== undefined, peerPort: peer !== undefined, mutualPeerTls: flags.peerClientCertAuth, privateCa: ca !== undefined });
  return { ca, client, peer };
}

export async function startNode(flags: NodeFlags, logger: winston.Logger, onFatal: (err: Error) => void): Promise<RunningNode> {
  const metrics = new NodeMetrics({ processMetrics: true, dataDir: flags.dataDir, quotaBytes: flags.quotaBytes });
  const { authorize, peerToken } = authFrom(flags, logger);
  const tls = tlsFrom(flags, logger);
  const runtime = await openRuntime({
    id: flags.id,
    dataDir: flags.dataDir,
    listenPeer: flags.listenPeer,
    advertisePeer: flags.advertisePeer,
    advertiseClient: flags.advertiseClient,
    mode: flags.mode,
    ...(flags.recovery ? { recovery: flags.recovery } : {}),
    tunables: flags.tunables,
    logger,
    metrics,
    peerToken,
    ...(tls.peer ? { peerTls: tls.peer } : {}),
    ...(tls.ca ? { peerCa: tls.ca } : {}),
    onFatal,
    quotaBytes: flags.quotaBytes,
  });
  metrics.bindSource(runtime.node);
  const client = createClientServerApp({
    node: runtime.node,
    logger,
    metrics,
    authorize,
    options: { maxValueBytes: flags.maxValueBytes, watch: { maxWatchers: flags.maxWatchers } },
    ...(tls.ca ? { forwardTls: { ca: tls.ca } } : {}),
  });
  const server = tls.client
    ? https.createServer({ keepAliveTimeout: 65_000, cert: tls.client.cert, key: tls.client.key }, client.app)
    : http.createServer({ keepAliveTimeout: 65_000 }, client.app);
  // An https.Server emits the same request and clientError events (it is an http.Server underneath).
  attachClientErrorHandler(server as http.Server, logger);
  const openFiles = openFilesLimit();
  const limits = connectionLimits(openFiles, flags.maxConnections);
  limitConnections(server, 'client', limits.client, logger, () => metrics.connectionDropped('client'));
  limitConnections(runtime.peerServer, 'peer', limits.peer, logger, () => metrics.connectionDropped('peer'));
  logger.info('connection limits', { client: limits.client ?? 'none', peer: limits.peer ?? 'none', openFiles: openFiles ?? 'unknown' });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(flags.listenClient.port, flags.listenClient.host, () => resolve());
    });
  } catch (err) {
    client.close();
    await runtime.close();
    throw err;
  }
  const clientPort = (server.address() as AddressInfo).port;
  const retention = new HistoryRetention({
    target: runtime.node,
    clock: systemClock,
    logger,
    retainRevisions: flags.historyRetainRevisions,
    retainMs: flags.historyRetainMs,
    retainBytes: flags.historyRetainBytes,
    intervalMs: 5000,
  });
  retention.start();
  logger.info('serving', { client: `${flags.listenClient.host}:${clientPort}`, peer: `${flags.listenPeer.host}:${runtime.peerPort}` });
  return {
    runtime,
    clientPort,
    peerPort: runtime.peerPort,
    async close() {
      retention.stop();
      client.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await runtime.close();
    },
  };
}
