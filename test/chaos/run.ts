// One chaos run: a 3-node cluster behind fault proxies, the workload and the watchers, nemeses on
// a seeded schedule; then heal, converge, and check. A failing run keeps its folder (node logs,
// history, nemesis events, watch records) and says where, with the seed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { checkOperations, registerModel, type KeyedRegisterOperation } from '../support/linearizability.js';
import { ChaosCluster } from './chaos-cluster.js';
import { Nemesis, type NemesisKind } from './nemesis.js';
import { resolveIndeterminate, type Change } from './resolve.js';
import { ChaosWatcher, validateWatch, type FinalHistory, type WatchVerdict } from './watchers.js';
import { checkWriteOrder } from './write-order.js';
import { Workload } from './workload.js';

export interface ChaosConfig {
  name: string;
  seed: number;
  durationMs: number;
  nemeses: NemesisKind[];
  /** Remove and re-add a member about this often (0: never). */
  membershipEveryMs: number;
  gapMs: [number, number];
  holdMs: [number, number];
  clients: number;
  keys: number;
  /** Extra conflux-node flags (snapshot and retention tunables). */
  nodeArgs: string[];
  opTimeoutMs: number;
  thinkMsMax: number;
  /**
   * After healing, clients keep going until the history holds at least this many operations (at
   * most 60 s more): on a loaded machine the faulty part alone may not produce enough to check.
   */
  minOperations?: number;
}

export interface ChaosReport {
  name: string;
  seed: number;
  dir: string;
  ok: boolean;
  problems: string[];
  operations: Record<string, number>;
  /** Operations the linearizability checker took (after dropping never-applied ones). */
  checkedOperations: number;
  checkerSteps: number;
  checkerMs: number;
  nemesisEvents: number;
  nemesisSkipped: number;
  nemesisByKind: Record<string, number>;
  watch: WatchVerdict[];
  finalRevision: number;
  compactedRevision: number;
  ackedWritesVerified: number;
  /** Whether the history (store + watchers) accounts for every revision. */
  historyComplete: boolean;
  /** What became of indeterminate writes before the check. */
  indeterminate: { completed: number; dropped: number; open: number };
  /** Versions and reads placed by the write-order check (null: not run, the history had holes). */
  writeOrder: { versions: number; reads: number } | null;
  /** Keys on which the search ran out of budget (the write-order check still covered them). */
  searchInconclusive: string[];
}

const PREFIX = 'chaos/';

export async function runChaos(cfg: ChaosConfig, log: (line: string) => void = (l) => console.log(l)): Promise<ChaosReport> {
  const cluster = new ChaosCluster(cfg.nodeArgs);
  const t0 = performance.now();
  const now = (): number => Math.round((performance.now() - t0) * 1000) / 1000;
  const say = (line: string): void => log(`[chaos ${cfg.name} seed=${cfg.seed} +${(now() / 1000).toFixed(1)}s] ${line}`);
  const keys = Array.from({ length: cfg.keys }, (_, i) => `${PREFIX}k${i}`);
  const problems: string[] = [];
  const report: ChaosReport = {
    name: cfg.name,
    seed: cfg.seed,
    dir: cluster.root,
    ok: false,
    problems,
    operations: {},
    checkedOperations: 0,
    checkerSteps: 0,
    checkerMs: 0,
    nemesisEvents: 0,
    nemesisSkipped: 0,
    nemesisByKind: {},
    watch: [],
    finalRevision: 0,
    compactedRevision: 0,
    ackedWritesVerified: 0,
    historyComplete: false,
    indeterminate: { completed: 0, dropped: 0, open: 0 },
    writeOrder: null,
    searchInconclusive: [],
  };
  let workload: Workload | null = null;
  let nemesis: Nemesis | null = null;
  const watchers: ChaosWatcher[] = [];
  let final: FinalHistory | null = null;
  try {
    say(`starting: ${JSON.stringify({ ...cfg, name: undefined })} in ${cluster.root}`);
    await cluster.start(['n1', 'n2', 'n3']);
    await until('a first leader', () => cluster.leader(), 20_000);

    const ids = cluster.ids();
    for (const [i] of ids.entries()) {
      watchers.push(new ChaosWatcher({ name: `w${i}`, prefix: PREFIX, nodes: () => cluster.targets(), startIndex: i, stallMs: 3000, now }));
    }
    watchers.push(
      new ChaosWatcher({
        name: 'sleepy',
        prefix: PREFIX,
        nodes: () => cluster.targets(),
        startIndex: 0,
        stallMs: 3000,
        sleepy: { seed: cfg.seed + 7, awayMsMin: 2000, awayMsMax: 8000, everyMsMax: 8000 },
        now,
      }),
    );
    for (const w of watchers) w.start();
    workload = new Workload({
      seed: cfg.seed,
      clients: cfg.clients,
      keys,
      targets: () => cluster.targets(),
      opTimeoutMs: cfg.opTimeoutMs,
      thinkMsMax: cfg.thinkMsMax,
      now,
    });
    workload.start();
    nemesis = new Nemesis(cluster, {
      seed: cfg.seed,
      kinds: cfg.nemeses,
      gapMs: cfg.gapMs,
      holdMs: cfg.holdMs,
      membershipEveryMs: cfg.membershipEveryMs,
      now,
      log: say,
    });
    nemesis.start();
    await new Promise((r) => setTimeout(r, cfg.durationMs));
    say('healing');
    await nemesis.stop();
    await nemesis.healAll();
    // Clients keep going a little on the healed cluster: recovery is part of the history.
    await new Promise((r) => setTimeout(r, 2000));
    const extraUntil = Date.now() + 60_000;
    while (workload.history().length < (cfg.minOperations ?? 0) && Date.now() < extraUntil) {
      await new Promise((r) => setTimeout(r, 500));
    }
    await workload.stop();
    report.operations = workload.counts();
    say(`workload stopped: ${JSON.stringify(report.operations)}`);
    problems.push(...workload.unexpected.slice(0, 20).map((u) => `unexpected answer: ${u}`));

    // ---- convergence: every node has the same state, read locally.
    const converged = await converge(cluster, keys);
    if (typeof converged === 'string') {
      problems.push(converged);
      return report;
    }
    final = await finalHistory(cluster.node('n1').client, keys);
    report.finalRevision = final.revision;
    report.compactedRevision = final.compactedRevision;

    // ---- watchers catch up to the end, then stop.
    await until('watchers to reach the final revision', async () => watchers.every((w) => w.last >= final!.revision), 15_000).catch(() => undefined);
    for (const w of watchers) await w.stop();
    report.watch = watchers.map((w) => validateWatch(w.name, w.records, final!));
    for (const v of report.watch) problems.push(...v.problems.slice(0, 10).map((p) => `watch ${v.watcher}: ${p}`));

    // ---- what the store applied, revision by revision: its history after the run, and what the
    // watchers saw live (which also covers revisions compaction dropped since). They must agree.
    const known = new Map<number, Change>(final.byRevision);
    for (const w of watchers) {
      for (const e of w.events()) {
        const change: Change = { key: e.key, deleted: e.type === 'delete', value: e.type === 'delete' ? '' : e.value };
        const had = known.get(e.revision);
        if (had === undefined) known.set(e.revision, change);
        else if (had.key !== change.key || had.deleted !== change.deleted || had.value !== change.value) {
          problems.push(`revision ${e.revision}: watcher ${w.name} saw ${JSON.stringify(change)}, elsewhere ${JSON.stringify(had)}`);
        }
      }
    }
    let complete = true;
    for (let r = 1; r <= final.revision; r++) if (!known.has(r)) complete = false;
    report.historyComplete = complete;

    // ---- acknowledged writes are in the history; nothing applied that was refused; no duplicates.
    const byValue = new Map<string, number[]>();
    for (const [revision, change] of known) {
      if (change.deleted) continue;
      const list = byValue.get(change.value) ?? [];
      list.push(revision);
      byValue.set(change.value, list);
    }
    for (const [value, revisions] of byValue) {
      if (revisions.length > 1) problems.push(`value ${value} was applied ${revisions.length} times (revisions ${revisions.join(', ')})`);
    }
    const written = new Map<string, (typeof workload.ops)[number]>();
    for (const op of workload.ops) if (typeof op.value === 'string') written.set(op.value, op);
    for (const [value, revisions] of byValue) {
      const op = written.get(value);
      if (op === undefined) problems.push(`value ${value} at revision ${revisions[0]} was never written by a client`);
      else if (op.result === 'failed') problems.push(`op ${op.id} (${op.kind} ${op.key}=${value}) answered ${op.status} (not applied) but the store has it at revision ${revisions[0]}`);
    }
    for (const op of workload.ops) {
      if (op.result !== 'ok' || op.revision === undefined) continue;
      const change = known.get(op.revision);
      if (change === undefined && op.revision <= final.compactedRevision) continue;
      const expected = op.kind === 'delete' ? 'delete' : `put ${op.value}`;
      const actual = change === undefined ? 'nothing' : change.deleted ? 'delete' : `put ${change.value}`;
      if (change === undefined || change.key !== op.key || actual !== expected) {
        problems.push(`acknowledged op ${op.id} (${op.kind} ${op.key}, ${expected}) at revision ${op.revision}: the store has ${actual}${change ? ` of ${change.key}` : ''}`);
      } else {
        report.ackedWritesVerified++;
      }
    }

    // ---- linearizability, per key, after narrowing indeterminate writes with the history.
    const resolution = resolveIndeterminate(workload.ops, known, complete);
    problems.push(...resolution.anomalies.slice(0, 10));
    if (!complete) say('the history has holes (compacted before any watcher saw them): indeterminate writes stay open');
    report.indeterminate = { completed: resolution.completed, dropped: resolution.dropped, open: resolution.open };
    const history: KeyedRegisterOperation[] = resolution.history;
    report.checkedOperations = history.length;
    const started = performance.now();
    // The store's own write order as the linearization (linear time; needs the whole history).
    if (complete) {
      const order = checkWriteOrder(workload.ops, known);
      report.writeOrder = { versions: order.versions, reads: order.reads };
      problems.push(...order.problems.slice(0, 10).map((p) => `write order: ${p}`));
    }
    // The search (Wing & Gong / Lowe), per key, which assumes nothing about the store's order.
    const byKey = new Map<string, KeyedRegisterOperation[]>();
    for (const op of history) {
      if (op.input.type === 'read' && op.completeMs === undefined) continue;
      const list = byKey.get(op.key) ?? [];
      list.push(op);
      byKey.set(op.key, list);
    }
    for (const [key, ops] of byKey) {
      const verdict = checkOperations(registerModel, ops, { maxSteps: 3_000_000 });
      report.checkerSteps += verdict.steps;
      if (verdict.outcome === 'violation') problems.push(`not linearizable on ${key}: ${verdict.message}`);
      else if (verdict.outcome === 'timeout') {
        // Long-pending writes (applied long after their client gave up) can make the search
        // explode; the write-order check above still proves the history linearizable.
        report.searchInconclusive.push(key);
        if (!complete) problems.push(`linearizability search gave up on ${key} after ${verdict.steps} steps, and the history is too incomplete for the write-order check`);
      }
    }
    report.checkerMs = Math.round(performance.now() - started);
    return report;
  } catch (err) {
    problems.push(`run failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return report;
  } finally {
    await nemesis?.stop().catch(() => undefined);
    await workload?.stop().catch(() => undefined);
    for (const w of watchers) await w.stop().catch(() => undefined);
    if (nemesis) {
      report.nemesisEvents = nemesis.survived();
      report.nemesisSkipped = nemesis.events.filter((e) => e.skipped !== undefined).length;
      for (const e of nemesis.events) if (e.skipped === undefined) report.nemesisByKind[e.kind] = (report.nemesisByKind[e.kind] ?? 0) + 1;
    }
    report.ok = problems.length === 0;
    if (!report.ok) {
      writeFileSync(join(cluster.root, 'report.json'), JSON.stringify(report, null, 1));
      writeFileSync(join(cluster.root, 'history.json'), JSON.stringify(workload?.ops ?? [], null, 0));
      writeFileSync(join(cluster.root, 'nemesis.json'), JSON.stringify(nemesis?.events ?? [], null, 1));
      writeFileSync(join(cluster.root, 'watch.json'), JSON.stringify(watchers.map((w) => ({ name: w.name, records: w.records })), null, 0));
      if (final) writeFileSync(join(cluster.root, 'final-history.json'), JSON.stringify([...final.byRevision.entries()], null, 0));
      say(`FAILED: seed ${cfg.seed}; history, nemesis events, watch records and node logs kept in ${cluster.root}`);
      for (const p of problems.slice(0, 20)) say(`  problem: ${p}`);
    }
    await cluster.destroy(!report.ok);
    say(
      `${report.ok ? 'passed' : 'FAILED'}: ${report.checkedOperations} operations checked (${report.checkerMs} ms; indeterminate writes ${JSON.stringify(report.indeterminate)}; ` +
        `write order ${report.writeOrder ? `${report.writeOrder.versions} versions, ${report.writeOrder.reads} reads` : 'not run'}; search inconclusive on [${report.searchInconclusive.join(',')}]), ` +
        `${report.ackedWritesVerified} acknowledged writes found, ${report.nemesisEvents} nemesis events (${JSON.stringify(report.nemesisByKind)}), ` +
        `watchers ${report.watch.map((w) => `${w.watcher}:${w.events}ev/${w.reconnects}re/${w.compactedEvents}c`).join(' ')}, final revision ${report.finalRevision}`,
    );
  }
}

async function until<T>(what: string, f: () => Promise<T | null | false | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: r.status, body: text };
  }
}

/**
 * Waits until every node applied the same index, the configuration has three voters again, and a
 * serializable read of every key (and of the whole listing) gives the same answer on each node.
 * Returns a problem description when they do not converge in time.
 */
async function converge(cluster: ChaosCluster, keys: string[]): Promise<true | string> {
  let last = '';
  const deadline = Date.now() + 45_000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 300));
    try {
      const statuses = await Promise.all(cluster.ids().map((id) => cluster.status(id, 2000)));
      if (statuses.some((s) => s === null)) {
        last = `not every node answers /admin/status: ${statuses.map((s, i) => `${cluster.ids()[i]}=${s ? s.role : 'down'}`).join(' ')}`;
        continue;
      }
      const members = await getJson(`${cluster.node('n1').client}/admin/members`);
      const voters = (members.body as { members?: { id: string; role: string }[] }).members?.filter((m) => m.role === 'voter').map((m) => m.id) ?? [];
      if (voters.length !== 3) {
        last = `configuration has voters ${voters.join(',')}`;
        continue;
      }
      const applied = statuses.map((s) => s!.appliedIndex);
      const leaders = new Set(statuses.map((s) => s!.leaderId));
      if (new Set(applied).size !== 1 || leaders.size !== 1 || statuses.some((s) => s!.commitIndex !== s!.appliedIndex)) {
        last = `nodes differ: ${statuses.map((s) => `${s!.id} leader=${s!.leaderId} applied=${s!.appliedIndex} commit=${s!.commitIndex}`).join('; ')}`;
        continue;
      }
      const views = await Promise.all(
        cluster.ids().map(async (id) => {
          const base = cluster.node(id).client;
          const list = await getJson(`${base}/v1/kv?prefix=${encodeURIComponent(PREFIX)}&consistency=serializable`);
          const perKey = await Promise.all(
            keys.map(async (k) => {
              const r = await fetch(`${base}/v1/kv/${k}?consistency=serializable`, { signal: AbortSignal.timeout(5000) });
              return `${k}:${r.status}:${r.headers.get('etag') ?? ''}:${await r.text()}`;
            }),
          );
          return JSON.stringify({ items: (list.body as { items: unknown }).items, perKey });
        }),
      );
      if (new Set(views).size === 1) return true;
      last = `states differ at applied index ${applied[0]}: ${views.map((v, i) => `${cluster.ids()[i]}=${v.slice(0, 300)}`).join(' | ')}`;
    } catch (err) {
      last = String(err);
    }
  }
  return `nodes did not converge within 45 s after healing: ${last}`;
}

async function finalHistory(base: string, keys: string[]): Promise<FinalHistory> {
  const byRevision: FinalHistory['byRevision'] = new Map();
  let revision = 0;
  let compactedRevision = 0;
  for (const key of keys) {
    const h = await getJson(`${base}/v1/history/${key}?consistency=serializable`);
    const body = h.body as { revision: number; items: { modRevision: number; deleted: boolean; value: string; encoding?: string }[] };
    revision = Math.max(revision, body.revision);
    for (const item of body.items) byRevision.set(item.modRevision, { key, deleted: item.deleted, value: item.deleted ? '' : item.value });
    const old = await getJson(`${base}/v1/kv/${key}?revision=1&consistency=serializable`);
    if (old.status === 410) {
      const c = (old.body as { error: { compactedRevision?: number } }).error.compactedRevision;
      if (typeof c === 'number') compactedRevision = Math.max(compactedRevision, c);
    }
  }
  return { byRevision, compactedRevision, revision };
}
