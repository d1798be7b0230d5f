// `conflux-node` flags (design section 4). Every flag is also an environment variable
// CONFLUX_<NAME> (--data-dir -> CONFLUX_DATA_DIR); a flag wins over the environment.
import type { RaftTunables, Recovery, StartMode } from '../server/runtime.js';
import { flagHelpLines, flagPositiveInt, flagString, readFlags, UsageError, type FlagSpec } from './flag-parser.js';

export { UsageError };


export interface NodeFlags {
  id: string;
  dataDir: string;
  listenClient: { host: string; port: number };
  listenPeer: { host: string; port: number };
  advertiseClient: string;
  advertisePeer: string;
  mode: StartMode;
  /** --restore FILE or --force-new-cluster (disaster recovery, docs/runbooks.md). */
  recovery?: Recovery;
  authTokenFile?: string;
  adminTokenFile?: string;
  peerTokenFile?: string;
  /** HTTPS on the client port (PEM files). */
  tls?: { certFile: string; keyFile: string };
  /** HTTPS on the peer port; the same certificate is presented to peers as a client certificate. */
  peerTls?: { certFile: string; keyFile: string };
  /** CA bundle trusted for node-to-node HTTPS (peer links, forwarding to the leader). */
  tlsCaFile?: string;
  /** Mutual TLS on the peer port: peers must present a certificate signed by `tlsCaFile`. */
  peerClientCertAuth: boolean;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  logFormat: 'json' | 'text';
  maxValueBytes: number;
  /** Watch streams this node serves at once; the next one gets 429. */
  maxWatchers: number;
  /** Keep this many of the newest revisions in the history (count policy). */
  historyRetainRevisions: number;
  /** Keep every revision younger than this instead (time policy). */
  historyRetainMs?: number;
  /** And never more history than this many bytes, whatever the count or time policy keeps. */
  historyRetainBytes: number;
  /** Writes that would grow the live keys and values past this many bytes are refused (507). */
  quotaBytes: number;
  /** Client-port connections open at once; absent: derived from the open-files limit. */
  maxConnections?: number;
  tunables: Partial<RaftTunables>;
}


export const flagSpecs: FlagSpec[] = [
  { name: 'id', kind: 'string', help: 'member id, unique in the cluster (required)' },
  { name: 'data-dir', kind: 'string', help: 'data directory (required)' },
  { name: 'listen-client', kind: 'string', help: 'host:port of the client API (default 127.0.0.1:7070)' },
  { name: 'listen-peer', kind: 'string', help: 'host:port of the peer API (default 127.0.0.1:7071)' },
  { name: 'advertise-client', kind: 'string', help: 'URL other nodes and clients use for the client API' },
  { name: 'advertise-peer', kind: 'string', help: 'URL other nodes use for the peer API' },
  { name: 'initial-cluster', kind: 'string', help: 'id=peerURL,... : start a new cluster whose members are all voters' },
  { name: 'bootstrap', kind: 'bool', help: 'start a new one-voter cluster' },
  { name: 'restore', kind: 'string', help: 'initialise an empty data directory from a backup FILE as a new one-voter cluster' },
  { name: 'force-new-cluster', kind: 'bool', help: 'disaster recovery: make this node, with its data, the only voter of a new cluster' },
  { name: 'auth-token-file', kind: 'string', help: 'client tokens, one "TOKEN read|readwrite PREFIX" per line' },
  { name: 'admin-token-file', kind: 'string', help: 'file holding the admin token' },
  { name: 'peer-token-file', kind: 'string', help: 'file holding the peer token' },
  { name: 'tls-cert-file', kind: 'string', help: 'certificate (PEM) of the client port: serve HTTPS' },
  { name: 'tls-key-file', kind: 'string', help: 'private key (PEM) of --tls-cert-file' },
  { name: 'peer-tls-cert-file', kind: 'string', help: 'certificate (PEM) of the peer port, also shown to peers as a client certificate' },
  { name: 'peer-tls-key-file', kind: 'string', help: 'private key (PEM) of --peer-tls-cert-file' },
  { name: 'tls-ca-file', kind: 'string', help: 'CA bundle (PEM) trusted for node-to-node HTTPS (peer links, forwarding to the leader)' },
  { name: 'peer-client-cert-auth', kind: 'bool', help: 'mutual TLS on the peer port: peers need a certificate signed by --tls-ca-file' },
  { name: 'log-level', kind: 'string', help: 'error|warn|info|debug (default info)' },
  { name: 'log-format', kind: 'string', help: 'json|text (default json)' },
  { name: 'max-value-bytes', kind: 'int', help: 'largest value accepted (default 1048576)' },
  { name: 'max-connections', kind: 'int', help: 'client connections open at once; more are closed at once (default: what the open-files limit leaves after a reserve)' },
  { name: 'max-watchers', kind: 'int', help: 'watch streams served at once; more get 429 (default 1000)' },
  { name: 'history-retain-revisions', kind: 'int', help: 'keep the newest N revisions of history (default 10000)' },
  { name: 'history-retain-ms', kind: 'int', help: 'keep history younger than this many ms instead' },
  { name: 'quota-bytes', kind: 'int', help: 'refuse writes (507 quota_exceeded) that would grow the live keys and values past this many bytes (default 2147483648)' },
  { name: 'history-retain-bytes', kind: 'int', help: 'and never more than this many bytes of history, whatever its count or age (default 268435456)' },
  { name: 'heartbeat-interval-ms', kind: 'int', help: 'Raft tick and heartbeat interval (default 100)' },
  { name: 'election-ticks-min', kind: 'int', help: 'election timeout lower bound, in ticks (default 10)' },
  { name: 'election-ticks-max', kind: 'int', help: 'election timeout upper bound, in ticks (default 20)' },
  { name: 'snapshot-entries', kind: 'int', help: 'snapshot every this many applied entries (default 100000)' },
  { name: 'snapshot-bytes', kind: 'int', help: 'or once the entries applied since the last snapshot hold this many bytes, or the last snapshot\'s size if larger (default 67108864)' },
  { name: 'compaction-keep-entries', kind: 'int', help: 'entries kept behind a snapshot, up to --snapshot-bytes of them (default 1000)' },
  { name: 'max-inflight-appends', kind: 'int', help: 'AppendEntries in flight per follower (default 4)' },
  { name: 'max-entries-per-append', kind: 'int', help: 'entries per AppendEntries (default 1024)' },
  { name: 'max-bytes-per-append', kind: 'int', help: 'bytes per AppendEntries (default 4 MiB)' },
  { name: 'lease-reads', kind: 'bool', help: 'serve linearizable reads under a leader lease (assumes bounded clock drift)' },
];

export function usage(): string {
  const lines = flagHelpLines(flagSpecs);
  return [
    'usage: conflux-node --id ID --data-dir DIR [--initial-cluster id=URL,... | --bootstrap] [flags]',
    'Without --initial-cluster or --bootstrap a new node waits to be added (POST /admin/members on the leader).',
    'A node restarted with an existing data directory ignores both and resumes.',
    'Disaster recovery (docs/runbooks.md): --restore FILE into an empty directory, or --force-new-cluster on a survivor.',
    'Every flag can also be set as CONFLUX_<NAME>, e.g. CONFLUX_DATA_DIR.',
    '',
    ...lines,
  ].join('\n');
}

export function parseNodeFlags(argv: string[], env: NodeJS.ProcessEnv): NodeFlags {
  const values = readFlags(flagSpecs, argv, env, 'CONFLUX');
  const str = (n: string): string | undefined => flagString(values, n);
  const int = (n: string): number | undefined => flagPositiveInt(values, n);

  const id = str('id');
  if (!id) throw new UsageError('--id is required');
  if (!/^[A-Za-z0-9._-]{1,63}$/.test(id)) throw new UsageError(`--id ${id}: use 1-63 letters, digits, '.', '_' or '-'`);
  const dataDir = str('data-dir');
  if (!dataDir) throw new UsageError('--data-dir is required');
  const listenClient = hostPort(str('listen-client') ?? '127.0.0.1:7070', 'listen-client');
  const listenPeer = hostPort(str('listen-peer') ?? '127.0.0.1:7071', 'listen-peer');
  const tls = certPair(str('tls-cert-file'), str('tls-key-file'), 'tls');
  const peerTls = certPair(str('peer-tls-cert-file'), str('peer-tls-key-file'), 'peer-tls');
  const tlsCaFile = str('tls-ca-file');
  const peerClientCertAuth = values.get('peer-client-cert-auth') === true;
  if (peerClientCertAuth && (!peerTls || !tlsCaFile)) throw new UsageError('--peer-client-cert-auth needs --peer-tls-cert-file, --peer-tls-key-file and --tls-ca-file');
  const advertiseClient = url(str('advertise-client') ?? `${tls ? 'https' : 'http'}://${listenClient.host}:${listenClient.port}`, 'advertise-client');
  const advertisePeer = url(str('advertise-peer') ?? `${peerTls ? 'https' : 'http'}://${listenPeer.host}:${listenPeer.port}`, 'advertise-peer');

  const initial = str('initial-cluster');
  if (initial && values.get('bootstrap') === true) throw new UsageError('use either --initial-cluster or --bootstrap, not both');
  let mode: StartMode = { kind: 'join' };
  if (values.get('bootstrap') === true) mode = { kind: 'bootstrap' };
  if (initial) {
    const members = initial.split(',').map((part) => {
      const eq = part.indexOf('=');
      if (eq <= 0) throw new UsageError(`--initial-cluster: "${part}" is not id=peerURL`);
      return { id: part.slice(0, eq).trim(), peerURL: url(part.slice(eq + 1).trim(), 'initial-cluster') };
    });
    if (new Set(members.map((m) => m.id)).size !== members.length) throw new UsageError('--initial-cluster lists an id twice');
    if (!members.some((m) => m.id === id)) throw new UsageError(`--initial-cluster does not list this node (${id})`);
    mode = { kind: 'initial-cluster', members };
  }

  const restore = str('restore');
  const force = values.get('force-new-cluster') === true;
  if (restore !== undefined && (initial || mode.kind === 'bootstrap')) {
    throw new UsageError(
      '--restore makes a one-voter cluster and cannot be combined with --initial-cluster or --bootstrap; ' +
        'to restore several nodes, restore one and add the others with conflux members add (docs/runbooks.md, Restore)',
    );
  }
  // --initial-cluster / --bootstrap may stay (a node's usual command line): a directory with data
  // ignores them anyway (design section 4).
  if (force && restore !== undefined) throw new UsageError('--force-new-cluster recovers an existing data directory; it cannot be combined with --restore');
  if (restore === '') throw new UsageError('--restore needs a FILE');
  const recovery: Recovery | undefined = restore !== undefined ? { kind: 'restore', file: restore } : force ? { kind: 'force-new-cluster' } : undefined;

  const logLevel = (str('log-level') ?? 'info') as NodeFlags['logLevel'];
  if (!['error', 'warn', 'info', 'debug'].includes(logLevel)) throw new UsageError(`--log-level ${logLevel}: use error, warn, info or debug`);
  const logFormat = (str('log-format') ?? 'json') as NodeFlags['logFormat'];
  if (!['json', 'text'].includes(logFormat)) throw new UsageError(`--log-format ${logFormat}: use json or text`);

  const tunables: Partial<RaftTunables> = {};
  const setInt = (flag: string, key: keyof RaftTunables) => {
    const v = int(flag);
    if (v !== undefined) (tunables as Record<string, number>)[key] = v;
  };
  setInt('heartbeat-interval-ms', 'heartbeatIntervalMs');
  setInt('election-ticks-min', 'electionTicksMin');
  setInt('election-ticks-max', 'electionTicksMax');
  setInt('snapshot-entries', 'snapshotEntries');
  setInt('snapshot-bytes', 'snapshotBytes');
  setInt('compaction-keep-entries', 'compactionKeepEntries');
  setInt('max-inflight-appends', 'maxInflightAppends');
  setInt('max-entries-per-append', 'maxEntriesPerAppend');
  setInt('max-bytes-per-append', 'maxBytesPerAppend');
  if (values.get('lease-reads') === true) tunables.leaseReads = true;
  const min = tunables.electionTicksMin ?? 10;
  const max = tunables.electionTicksMax ?? 20;
  if (max <= min) throw new UsageError(`--election-ticks-max (${max}) must be above --election-ticks-min (${min})`);

  return {
    id,
    dataDir,
    listenClient,
    listenPeer,
    advertiseClient,
    advertisePeer,
    mode,
    ...(recovery ? { recovery } : {}),
    authTokenFile: str('auth-token-file'),
    adminTokenFile: str('admin-token-file'),
    peerTokenFile: str('peer-token-file'),
    tls,
    peerTls,
    tlsCaFile,
    peerClientCertAuth,
    logLevel,
    logFormat,
    maxValueBytes: int('max-value-bytes') ?? 1024 * 1024,
    maxWatchers: int('max-watchers') ?? 1000,
    historyRetainRevisions: int('history-retain-revisions') ?? 10_000,
    historyRetainMs: int('history-retain-ms'),
    historyRetainBytes: int('history-retain-bytes') ?? DEFAULT_HISTORY_RETAIN_BYTES,
    quotaBytes: int('quota-bytes') ?? DEFAULT_QUOTA_BYTES,
    maxConnections: int('max-connections'),
    tunables,
  };
}

/**
 * The history is held in memory and written into every snapshot; by count alone, 10,000 revisions
 * of 1 MiB values would be 10 GB.
 */
export const DEFAULT_HISTORY_RETAIN_BYTES = 256 * 1024 * 1024;

/**
 * The store lives in memory, on every node: without a bound, enough writes of new keys would
 * exhaust every node's memory at once. 2 GiB is etcd's default backend quota.
 */
export const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024;

function certPair(certFile: string | undefined, keyFile: string | undefined, flag: string): { certFile: string; keyFile: string } | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new UsageError(`--${flag}-cert-file and --${flag}-key-file go together`);
  return { certFile, keyFile };
}

function hostPort(v: string, flag: string): { host: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (!m || !m[1] || port > 65535) throw new UsageError(`--${flag} ${v}: expected host:port`);
  return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port };
}

function url(v: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new UsageError(`--${flag}: ${v} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--${flag}: ${v} must be http(s)`);
  return v.replace(/\/$/, '');
}
