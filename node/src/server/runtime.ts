// Opens a node's data directory and wires storage, state machine, Raft core, driver, peer
// transport and peer server together. The client-facing HTTP app is added by main.ts; tests use
// this directly to run real nodes in one process.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { bootstrapState, defaultRaftTunables, type RaftConfig, type RaftInitialState } from '../raft/config.js';
import { RaftCore } from '../raft/core.js';
import { emptyMembership } from '../raft/membership.js';
import { seededRng } from '../raft/rng.js';
import type { Membership, NodeId } from '../raft/types.js';
import { assertNoUnfinishedForce, forceNewCluster } from '../storage/force-new-cluster.js';
import { openNodeStorage } from '../storage/node-storage.js';
import { assertNoUnfinishedRestore, restoreDataDir } from '../storage/restore.js';
import { KvStore, WatchHub } from '../store/index.js';
import { systemClock, type Clock } from './clock.js';
import { RaftDriver, type DriverMetrics } from './driver.js';
import type { FatalError } from './errors.js';
import type { Logger } from './logger.js';
import { ConfluxNode } from './node.js';
import { createPeerRequestListener } from './peer-server.js';
import { PeerTransport } from './transport.js';

export interface RaftTunables {
  heartbeatIntervalMs: number;
  electionTicksMin: number;
  electionTicksMax: number;
  snapshotEntries: number;
  snapshotBytes: number;
  compactionKeepEntries: number;
  maxInflightAppends: number;
  maxEntriesPerAppend: number;
  maxBytesPerAppend: number;
  leaseReads: boolean;
  promoteLagEntriesMax: number;
}

export const defaultTunables: RaftTunables = {
  ...defaultRaftTunables,
  // 100 ms ticks: elections after 1-2 s of silence, a new leader well within 3 s.
  heartbeatIntervalMs: 100,
};

export type StartMode =
  | { kind: 'initial-cluster'; members: { id: NodeId; peerURL: string; clientURL?: string }[] }
  | { kind: 'bootstrap' }
  | { kind: 'join' };

/** Disaster recovery at start (docs/runbooks.md): restore a backup, or force a one-voter cluster. */
export type Recovery = { kind: 'restore'; file: string } | { kind: 'force-new-cluster' };

export interface RuntimeOptions {
  id: NodeId;
  dataDir: string;
  /** host:port for the peer server; port 0 picks one (tests). */
  listenPeer: { host: string; port: number };
  advertisePeer: string;
  advertiseClient: string;
  mode: StartMode;
  recovery?: Recovery;
  tunables?: Partial<RaftTunables>;
  logger: Logger;
  metrics?: DriverMetrics;
  clock?: Clock;
  peerToken?: string;
  /**
   * HTTPS on the peer port (PEM). `cert`/`key` are also shown to peers as a client certificate;
   * with `requireClientCert`, peers must present one signed by `ca` (mutual TLS).
   */
  peerTls?: { cert: Buffer; key: Buffer; requireClientCert: boolean };
  /** CA bundle trusted when connecting to peers over HTTPS (default: the system's). */
  peerCa?: Buffer;
  onFatal?: (err: FatalError) => void;
  /** Live data bound: writes that would grow past it are refused (ConfluxNodeOptions.quotaBytes). */
  quotaBytes?: number;
}

export interface NodeRuntime {
  node: ConfluxNode;
  driver: RaftDriver<import('../store/index.js').CommandResult>;
  dataDir: import('../storage/data-dir.js').DataDir;
  peerServer: http.Server | https.Server;
  peerPort: number;
  close(): Promise<void>;
}

export async function openRuntime(o: RuntimeOptions): Promise<NodeRuntime> {
  const clock = o.clock ?? systemClock;
  const t: RaftTunables = { ...defaultTunables, ...o.tunables };
  const self = { id: o.id, peerURL: o.advertisePeer, clientURL: o.advertiseClient };
  if (o.recovery?.kind === 'restore') {
    const r = await restoreDataDir({ path: o.dataDir, backupFile: o.recovery.file, self });
    if (r.kind === 'restored') {
      const h = r.summary.header;
      o.logger.warn('restored a backup as a new one-voter cluster', { file: o.recovery.file, clusterId: r.clusterId, fromClusterId: h.clusterId, revision: h.revision, keys: h.keys, index: h.index, sha256: r.summary.sha256 });
    } else {
      o.logger.warn('--restore ignored: this data directory was restored from this backup already; resuming (remove the flag)', { clusterId: r.clusterId, restoredAt: r.marker.restoredAt });
    }
  } else {
    await assertNoUnfinishedRestore(o.dataDir);
  }
  // Opens the directory, the log and the snapshots, and finishes a snapshot step a crash interrupted.
  const storage = await openNodeStorage(o.dataDir);
  const { dataDir: dir, log, snapshots } = storage;
  try {
    let loaded = storage.initial;
    if (o.recovery?.kind === 'force-new-cluster') {
      const r = await forceNewCluster(storage, { self });
      if (r.kind === 'forced') {
        o.logger.warn('FORCED A NEW CLUSTER: this node is now the only voter, with its data; add members back with empty data directories', {
          clusterId: r.clusterId,
          previousClusterId: r.previousClusterId,
          configIndex: r.index,
          term: r.term,
          keptEntries: r.keptEntries,
        });
        loaded = await log.load();
      } else {
        o.logger.warn('--force-new-cluster ignored: this directory was forced into its cluster already; remove the flag', { clusterId: r.marker.clusterId, at: r.marker.at });
      }
    } else {
      await assertNoUnfinishedForce(dir.path);
    }

    const store = new KvStore();
    const watches = new WatchHub(store);

    // A restarted node ignores the bootstrap flags (design section 4): its log says who it is.
    let state: RaftInitialState = { ...loaded, applied: loaded.snapshot?.index ?? 0 };
    let clusterId = dir.clusterId;
    if (dir.created || isEmpty(state)) {
      const boot = initialState(o, dir.incarnation);
      if (boot) {
        clusterId = clusterId || boot.clusterId;
        await dir.adoptClusterId(clusterId);
        await log.write({ hardState: boot.state.hardState, entries: boot.state.entries });
        state = boot.state;
      }
    }
    let appliedMembership: Membership = emptyMembership;
    let appliedTerm = 0;
    if (state.snapshot) {
      const reader = await snapshots.openReader();
      try {
        await store.restore(state.snapshot, reader.chunks(0));
      } finally {
        await reader.close();
      }
      appliedMembership = state.snapshot.membership;
      appliedTerm = state.snapshot.term;
    }

    const raftConfig: RaftConfig = {
      ...t,
      heartbeatTicks: 1,
      id: o.id,
      clientURL: o.advertiseClient,
      incarnation: dir.incarnation,
      clusterId,
      rng: seededRng(randomBytes(4).readUInt32BE(0)),
    };
    const core = new RaftCore(raftConfig, state);
    let transport: PeerTransport | null = null;
    const driver: RaftDriver<import('../store/index.js').CommandResult> = new RaftDriver({
      core,
      incarnation: dir.incarnation,
      log,
      snapshots,
      stateMachine: store,
      peers: {
        send: (m) => transport?.send(m),
        sendSnapshot: (...args) => transport!.sendSnapshot(...args),
      },
      clock,
      logger: o.logger,
      metrics: o.metrics,
      tickIntervalMs: t.heartbeatIntervalMs,
      adoptClusterId: (id) => dir.adoptClusterId(id),
      appliedMembership,
      appliedTerm,
      onFatal: o.onFatal,
    });
    // Addresses heard from peers that the configuration does not name (yet): a node waiting to be
    // added must answer the leader before it has received the configuration.
    const heardPeerURLs = new Map<NodeId, string>();
    transport = new PeerTransport({
      resolve: (id) => driver.core.status().membership.members.find((m) => m.id === id)?.peerURL ?? heardPeerURLs.get(id) ?? null,
      selfPeerURL: o.advertisePeer,
      onUnreachable: (id) => driver.core.reportUnreachable(id),
      clock,
      rng: seededRng(randomBytes(4).readUInt32BE(0)),
      logger: o.logger,
      peerToken: o.peerToken,
      maxInflightRequests: t.maxInflightAppends,
      ...(o.peerTls || o.peerCa ? { tls: { ...(o.peerCa ? { ca: o.peerCa } : {}), ...(o.peerTls ? { cert: o.peerTls.cert, key: o.peerTls.key } : {}) } } : {}),
    });
    const node = new ConfluxNode({
      driver,
      store,
      watches,
      log,
      clock,
      raftConfig,
      self: { id: o.id, incarnation: dir.incarnation, peerURL: o.advertisePeer, clientURL: o.advertiseClient },
      newClusterId: () => randomBytes(8).toString('hex'),
      saveClusterId: (id) => dir.adoptClusterId(id),
      ...(o.quotaBytes !== undefined ? { quotaBytes: o.quotaBytes } : {}),
    });
    const peerListener = createPeerRequestListener({
      handler: driver,
      logger: o.logger,
      peerToken: o.peerToken,
      onPeerAddress: (id, url) => {
        if (heardPeerURLs.size < 1000) heardPeerURLs.set(id, url);
      },
    });
    const peerServer = o.peerTls
      ? https.createServer(
          {
            keepAliveTimeout: 65_000,
            cert: o.peerTls.cert,
            key: o.peerTls.key,
            ...(o.peerCa ? { ca: o.peerCa } : {}),
            requestCert: o.peerTls.requireClientCert,
            rejectUnauthorized: o.peerTls.requireClientCert,
          },
          peerListener,
        )
      : http.createServer({ keepAliveTimeout: 65_000 }, peerListener);

    await new Promise<void>((resolve, reject) => {
      peerServer.once('error', reject);
      peerServer.listen(o.listenPeer.port, o.listenPeer.host, () => resolve());
    });
    const peerPort = (peerServer.address() as AddressInfo).port;
    driver.start();
    o.logger.info('node started', { id: o.id, clusterId: clusterId || '(waiting to be added)', incarnation: dir.incarnation, peerPort, lastIndex: core.status().lastIndex });

    return {
      node,
      driver,
      dataDir: dir,
      peerServer,
      peerPort,
      async close() {
        await driver.stop();
        transport?.close();
        await new Promise<void>((r) => {
          peerServer.close(() => r());
          peerServer.closeAllConnections();
        });
        await storage.close();
      },
    };
  } catch (err) {
    await storage.close().catch(() => undefined);
    throw err;
  }
}

function isEmpty(s: RaftInitialState): boolean {
  return s.snapshot === null && s.entries.length === 0 && s.hardState.term === 0;
}

/** The state of a brand-new node from the start flags, or null to wait to be added. */
function initialState(o: RuntimeOptions, incarnation: string): { state: RaftInitialState; clusterId: string } | null {
  switch (o.mode.kind) {
    case 'join':
      return null;
    case 'bootstrap':
      return {
        clusterId: randomBytes(8).toString('hex'),
        state: bootstrapState({ members: [{ id: o.id, incarnation, role: 'voter', peerURL: o.advertisePeer, clientURL: o.advertiseClient }] }),
      };
    case 'initial-cluster': {
      // Every listed node starts as a voter with the same first entry. The cluster id is derived
      // from the member list so that all of them agree without talking; incarnations are pinned by
      // the first leader (core: pinIncarnations).
      const members = [...o.mode.members].sort((a, b) => a.id.localeCompare(b.id));
      const clusterId = stableId(members.map((m) => `${m.id}=${m.peerURL}`).join(','));
      return {
        clusterId,
        state: bootstrapState({
          members: members.map((m) => ({
            id: m.id,
            incarnation: m.id === o.id ? incarnation : '',
            role: 'voter' as const,
            peerURL: m.peerURL,
            clientURL: m.id === o.id ? o.advertiseClient : (m.clientURL ?? ''),
          })),
        }),
      };
    }
  }
}

function stableId(text: string): string {
  // FNV-1a 64-bit, hex: stable across nodes and versions, no crypto needed.
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}
