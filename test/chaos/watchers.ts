// Watchers for the chaos runs, and the validator of what they saw (the guarantees etcd's robustness
// tests check): ordered by revision, each revision at most once, every event equal to the store's
// final history at its revision, no silent gaps (a gap is allowed only where a `compacted` event
// announced it), resumable with Last-Event-ID, and reliable (each watcher ends at the final
// revision). Each watcher keeps one stream; when its node dies, stalls (a partition) or closes the
// stream, it resumes with Last-Event-ID on the same node or the next one.
import http from 'node:http';
import { seededRng, type Rng } from '../../node/src/raft/rng.js';

export type WatchRecord =
  | { kind: 'event'; revision: number; type: string; key: string; value: string; node: string; atMs: number }
  | { kind: 'compacted'; oldestRevision: number; after: number; node: string; atMs: number }
  | { kind: 'error'; data: string; node: string; atMs: number }
  | { kind: 'connect'; node: string; lastEventId: number; atMs: number; status: number | string };

export interface WatcherOptions {
  name: string;
  prefix: string;
  /** Nodes in the order the watcher tries them; it starts at `startIndex`. */
  nodes: () => { id: string; url: string }[];
  startIndex: number;
  /** A stream with no event for this long is given up and resumed elsewhere. */
  stallMs: number;
  /** A sleepy watcher now and then drops its stream and stays away for a while. */
  sleepy?: { seed: number; awayMsMin: number; awayMsMax: number; everyMsMax: number };
  now: () => number;
}

export class ChaosWatcher {
  readonly records: WatchRecord[] = [];
  /** Last revision seen (what Last-Event-ID carries on resume). */
  last = 0;
  private stopped = false;
  private current: http.ClientRequest | null = null;
  private loop: Promise<void> | null = null;
  private index: number;
  private readonly rng: Rng | null;
  private wake: (() => void) | null = null;

  constructor(private readonly o: WatcherOptions) {
    this.index = o.startIndex;
    this.rng = o.sleepy ? seededRng(o.sleepy.seed) : null;
  }

  get name(): string {
    return this.o.name;
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.destroy();
    this.wake?.();
    await this.loop;
  }

  events(): Extract<WatchRecord, { kind: 'event' }>[] {
    return this.records.filter((r): r is Extract<WatchRecord, { kind: 'event' }> => r.kind === 'event');
  }

  reconnects(): number {
    return this.records.filter((r) => r.kind === 'connect').length - 1;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.wake = null;
        r();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        r();
      };
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const nodes = this.o.nodes();
      if (nodes.length === 0) {
        await this.sleep(100);
        continue;
      }
      const target = nodes[this.index % nodes.length]!;
      const ended = await this.stream(target);
      if (this.stopped) return;
      if (ended === 'away') {
        const s = this.o.sleepy!;
        await this.sleep(this.rng!.int(s.awayMsMin, s.awayMsMax + 1));
      } else if (ended !== 'closed') {
        // Refused, stalled or failed: try the next node.
        this.index++;
        await this.sleep(100);
      } else {
        await this.sleep(20);
      }
    }
  }

  /** One stream; resolves with why it ended. */
  private stream(target: { id: string; url: string }): Promise<'closed' | 'failed' | 'stalled' | 'away'> {
    const u = new URL(target.url);
    const headers: Record<string, string> = {};
    if (this.last > 0) headers['last-event-id'] = String(this.last);
    const awayAt = this.rng && this.o.sleepy ? this.o.now() + this.rng.int(1000, this.o.sleepy.everyMsMax + 1) : Infinity;
    return new Promise((resolve) => {
      let outcome: 'closed' | 'failed' | 'stalled' | 'away' = 'closed';
      let settled = false;
      let stall: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(stall);
        this.current = null;
        resolve(outcome);
      };
      const armStall = (): void => {
        clearTimeout(stall);
        stall = setTimeout(() => {
          outcome = 'stalled';
          req.destroy();
        }, this.o.stallMs);
      };
      const req = http.get(
        { host: u.hostname, port: u.port, path: `/v1/watch?prefix=${encodeURIComponent(this.o.prefix)}&fromRevision=1`, headers, agent: false },
        (res) => {
          this.records.push({ kind: 'connect', node: target.id, lastEventId: this.last, atMs: this.o.now(), status: res.statusCode ?? 0 });
          if (res.statusCode !== 200) {
            outcome = 'failed';
            res.resume();
            res.on('end', finish);
            res.on('error', finish);
            return;
          }
          armStall();
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            for (;;) {
              const end = buffer.indexOf('\n\n');
              if (end < 0) break;
              const block = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              this.onBlock(block, target.id);
              armStall();
            }
            if (this.o.now() >= awayAt) {
              outcome = 'away';
              req.destroy();
            }
          });
          res.on('end', finish);
          res.on('error', finish);
          res.on('close', finish);
        },
      );
      this.current = req;
      req.on('error', () => {
        if (outcome === 'closed') outcome = 'failed';
        finish();
      });
      req.on('close', finish);
    });
  }

  private onBlock(block: string, node: string): void {
    let id: string | undefined;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0 && id === undefined) return; // a heartbeat comment
    const atMs = this.o.now();
    const text = data.join('\n');
    if (event === 'put' || event === 'delete') {
      const d = JSON.parse(text) as { key: string; value: string; encoding?: string };
      const revision = Number(id);
      this.records.push({ kind: 'event', revision, type: event, key: d.key, value: d.value, node, atMs });
      this.last = revision;
    } else if (event === 'compacted') {
      const d = JSON.parse(text) as { oldestRevision: number };
      this.records.push({ kind: 'compacted', oldestRevision: d.oldestRevision, after: this.last, node, atMs });
      // Resume from the oldest revision still there: the gap is announced.
      this.last = Math.max(this.last, d.oldestRevision - 1);
    } else {
      this.records.push({ kind: 'error', data: text.slice(0, 300), node, atMs });
    }
  }
}

/** The store's history after the run: one change per revision. */
export interface FinalHistory {
  byRevision: Map<number, { key: string; deleted: boolean; value: string }>;
  /** Revisions up to here may be missing from `byRevision` (compacted): nothing is checked there. */
  compactedRevision: number;
  revision: number;
}

export interface WatchVerdict {
  watcher: string;
  events: number;
  reconnects: number;
  compactedEvents: number;
  problems: string[];
}

/** Checks one watcher's records against the final history. */
export function validateWatch(name: string, records: readonly WatchRecord[], final: FinalHistory): WatchVerdict {
  const problems: string[] = [];
  let last = 0;
  let announcedUpTo = 0;
  let events = 0;
  let compactedEvents = 0;
  for (const r of records) {
    if (r.kind === 'compacted') {
      compactedEvents++;
      if (r.oldestRevision <= r.after + 1) problems.push(`compacted event at ${r.oldestRevision} right after ${r.after}: nothing was missing`);
      announcedUpTo = Math.max(announcedUpTo, r.oldestRevision - 1);
      continue;
    }
    if (r.kind !== 'event') continue;
    events++;
    if (r.revision <= last) {
      problems.push(`revision ${r.revision} (${r.key} on ${r.node}) after ${last}: ${r.revision === last ? 'duplicate' : 'out of order'}`);
      continue;
    }
    // Every revision between the previous event and this one must not exist, unless compacted
    // away on the server or announced by a compacted event.
    for (let missing = last + 1; missing < r.revision; missing++) {
      if (missing <= announcedUpTo || missing <= final.compactedRevision) continue;
      const change = final.byRevision.get(missing);
      if (change !== undefined) {
        problems.push(`silent gap: revision ${missing} (${change.key}) missing between ${last} and ${r.revision} (on ${r.node})`);
        break;
      }
    }
    const change = final.byRevision.get(r.revision);
    if (change === undefined) {
      if (r.revision > final.compactedRevision) problems.push(`revision ${r.revision} (${r.key} on ${r.node}) is not in the store's history`);
    } else if (change.key !== r.key || change.deleted !== (r.type === 'delete') || (!change.deleted && change.value !== r.value)) {
      problems.push(
        `revision ${r.revision} on ${r.node}: watch saw ${r.type} ${r.key}=${JSON.stringify(r.value)}, the store has ${change.deleted ? 'delete' : 'put'} ${change.key}=${JSON.stringify(change.value)}`,
      );
    }
    last = r.revision;
  }
  // Reliable: the watcher saw every change up to the end (or an announced compaction covers it).
  for (let missing = last + 1; missing <= final.revision; missing++) {
    if (missing <= announcedUpTo || missing <= final.compactedRevision) continue;
    if (final.byRevision.has(missing)) {
      problems.push(`the watcher stopped at ${last}; revision ${missing} and later (up to ${final.revision}) never arrived`);
      break;
    }
  }
  const reconnects = records.filter((r) => r.kind === 'connect').length - 1;
  return { watcher: name, events, reconnects, compactedEvents, problems };
}
