// `conflux-node --force-new-cluster`: disaster recovery when a majority of voters is lost for good.
// The surviving node keeps its data and becomes the only voter of a NEW cluster. Last resort: see
// docs/runbooks.md, "Quorum loss", for what can be lost.
//
// What it does to the data directory, each step durable before the next:
//   1. marker conflux-force-new-cluster.json {state: "started", clusterId: <new>}
//   2. the meta file gets the new cluster id
//   3. one log write: a configuration entry after the last entry, naming this node as the only
//      voter, at a term above every term seen, and the hard state {that term, vote: self,
//      commit: that entry}. The whole durable log is kept and counts as committed: Raft's
//      committed entries are a prefix of it, and the persisted commit index is only a hint that
//      may lag what the cluster had acknowledged; dropping the tail above it could drop
//      acknowledged writes. The price: an entry that was never committed (a write whose client
//      got an error or a timeout) may become committed too.
//   4. marker {state: "done"}
// Why a new cluster id, where etcd keeps its own: the old members' logs still name them voters of
// the old configuration. Were the id kept, an old member restarted by mistake would keep sending
// vote requests with a higher term and depose the survivor (and two old members together could
// elect a leader of the old configuration). With a new id every message of theirs is refused
// (cluster_mismatch); members come back only as new members with empty directories.
//
// A later start with the flag still set does nothing when the marker says "done" for the current
// cluster id (a pod restarting with the same arguments must not throw out the members added back
// since). To force again after a second disaster, delete the marker file first.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeMembership } from '../raft/membership.js';
import type { Membership } from '../raft/types.js';
import { writeFileDurable } from './durable-fs.js';
import { DataDirError } from './errors.js';
import type { NodeStorage } from './node-storage.js';

export const FORCE_MARKER = 'conflux-force-new-cluster.json';

export interface ForceMarker {
  state: 'started' | 'done';
  clusterId: string;
  previousClusterId: string;
  /** Index of the configuration entry that made this node the only voter (0 until written). */
  index: number;
  term: number;
  at: string;
}

export type ForceOutcome =
  | { kind: 'forced'; clusterId: string; previousClusterId: string; index: number; term: number; keptEntries: number }
  | { kind: 'already-forced'; marker: ForceMarker };

export interface ForceOptions {
  self: { id: string; peerURL: string; clientURL: string };
  newClusterId?: () => string;
}

/**
 * Rewrites an opened node's storage as described above. Rejects with DataDirError
 * (`not_a_data_dir`) when the directory holds no Raft state to recover.
 */
export async function forceNewCluster(storage: NodeStorage, o: ForceOptions): Promise<ForceOutcome> {
  const { dataDir, log } = storage;
  const previous = await readMarker(dataDir.path);
  if (previous?.state === 'done' && previous.clusterId === dataDir.clusterId) return { kind: 'already-forced', marker: previous };

  const initial = storage.initial;
  if (initial.snapshot === null && initial.entries.length === 0) {
    throw new DataDirError(dataDir.path, 'not_a_data_dir', 'holds no Raft log or snapshot: --force-new-cluster recovers a node that has data (a new cluster starts with --bootstrap)');
  }
  // An interrupted attempt goes on with the id it chose.
  const clusterId = previous?.state === 'started' ? previous.clusterId : (o.newClusterId ?? (() => randomBytes(8).toString('hex')))();
  const previousClusterId = previous?.state === 'started' ? previous.previousClusterId : dataDir.clusterId;
  const marker: ForceMarker = { state: 'started', clusterId, previousClusterId, index: 0, term: 0, at: new Date().toISOString() };
  await writeMarker(dataDir.path, marker);
  await dataDir.replaceClusterId(clusterId);

  const last = log.lastIndex();
  const term = Math.max(initial.hardState.term, await log.term(last)) + 1;
  const membership: Membership = {
    members: [{ id: o.self.id, incarnation: dataDir.incarnation, role: 'voter', peerURL: o.self.peerURL, clientURL: o.self.clientURL }],
  };
  const index = last + 1;
  await log.write({
    hardState: { term, vote: o.self.id, commit: index },
    entries: [{ index, term, kind: 'config', data: encodeMembership(membership) }],
  });
  await writeMarker(dataDir.path, { ...marker, state: 'done', index, term });
  const snapshotIndex = initial.snapshot?.index ?? 0;
  return { kind: 'forced', clusterId, previousClusterId, index, term, keptEntries: last - snapshotIndex };
}

/** Rejects with DataDirError (recovery_unfinished) when a forced start was interrupted. */
export async function assertNoUnfinishedForce(path: string): Promise<void> {
  if ((await readMarker(path))?.state === 'started') {
    throw new DataDirError(path, 'recovery_unfinished', 'a --force-new-cluster start was interrupted; start again with --force-new-cluster to finish it');
  }
}

async function readMarker(path: string): Promise<ForceMarker | null> {
  let text: string;
  try {
    text = await readFile(join(path, FORCE_MARKER), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const m = JSON.parse(text) as ForceMarker;
    if ((m.state === 'started' || m.state === 'done') && typeof m.clusterId === 'string') return m;
  } catch {
    // fall through
  }
  throw new DataDirError(path, 'recovery_unfinished', `${FORCE_MARKER} is damaged; delete it and start again with --force-new-cluster`);
}

async function writeMarker(path: string, marker: ForceMarker): Promise<void> {
  await writeFileDurable(join(path, FORCE_MARKER), new TextEncoder().encode(`${JSON.stringify(marker, null, 2)}\n`));
}
