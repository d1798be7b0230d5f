// Crash tests with real processes: a child (node/src/storage/testing/crash-child.ts, run from
// dist/) writes to a log (the WAL, then format 1's LevelDB log) and a snapshot store and acknowledges on stdout what is durable;
// this test SIGKILLs it at a random moment, reopens the data directory and checks that the state
// on disk is exactly what the child's operations produce after some prefix of them, a prefix at
// least as long as what was acknowledged. Then the next child continues on the same directory.
//
//   CRASH_ROUNDS=200 npx vitest run test/storage/crash.test.ts     long mode
//   CRASH_SEED=123 ...                                              replay a run
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seededRng } from '../../node/src/raft/rng.js';
import { SnapshotStore } from '../../node/src/storage/snapshot-store.js';
import {
  applyOp,
  cloneState,
  CRASH_ENGINES,
  emptyWorkloadState,
  fingerprint,
  openCrashLog,
  readWorkloadState,
  workloadSnapshotData,
} from '../../node/src/storage/testing/crash-workload.js';
import type { CrashEngine, CrashOp, WorkloadState } from '../../node/src/storage/testing/crash-workload.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD_PATH = 'node/src/storage/testing/crash-child.js';
const BUILT_CHILD = join(ROOT, 'dist', CHILD_PATH);
const ROUNDS = Number(process.env.CRASH_ROUNDS ?? 24);
const SEED = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** Newest modification time of the sources the child is compiled from. */
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, name.name);
      if (name.isDirectory()) walk(path);
      else if (name.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(join(ROOT, 'node/src/storage'));
  walk(join(ROOT, 'node/src/raft'));
  return newest;
}

/** `make build` compiles dist/ before the tests; when run alone, compile here if dist is stale. */
function ensureChildBuilt(): void {
  if (existsSync(BUILT_CHILD) && statSync(BUILT_CHILD).mtimeMs >= newestSource()) return;
  // tsc still emits when files elsewhere in the tree have type errors; only the child matters here.
  spawnSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'ignore' });
  if (!existsSync(BUILT_CHILD) || statSync(BUILT_CHILD).mtimeMs < newestSource()) {
    throw new Error(`crash tests need ${BUILT_CHILD}, compiled from the current sources: run \`make build\` (npx tsc -p tsconfig.build.json)`);
  }
}

/**
 * dist/ is shared: a build started elsewhere rewrites it file by file, and a child started
 * meanwhile would load half-written modules. The children run from a private copy instead,
 * checked to load before use (with a few retries, in case the copy itself caught a build).
 */
async function privateCopyOfChild(): Promise<{ base: string; child: string }> {
  const base = await mkdtemp(join(tmpdir(), 'conflux-crash-bin-'));
  await writeFile(join(base, 'package.json'), '{"type":"module"}\n');
  await symlink(join(ROOT, 'node_modules'), join(base, 'node_modules'), 'dir');
  const child = join(base, CHILD_PATH);
  for (let attempt = 1; ; attempt++) {
    await rm(join(base, 'node'), { recursive: true, force: true });
    for (const sub of ['node/src/storage', 'node/src/raft']) await cp(join(ROOT, 'dist', sub), join(base, sub), { recursive: true });
    const check = spawnSync(process.execPath, [child, '--check'], { encoding: 'utf8' });
    if (check.status === 0) return { base, child };
    if (attempt === 5) throw new Error(`the compiled crash child does not load: ${check.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

interface ChildReport {
  ready: boolean;
  ops: CrashOp[];
  acked: number;
  snapshotsIssued: number;
  snapshotsAcked: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function parseReport(out: string, exit: Pick<ChildReport, 'exitCode' | 'signal' | 'stderr'>): ChildReport {
  const report: ChildReport = { ready: false, ops: [], acked: 0, snapshotsIssued: 0, snapshotsAcked: 0, ...exit };
  // A line cut short by the kill has no newline: as far as we know, it never happened.
  for (const line of out.split('\n').slice(0, -1)) {
    const [tag, n, ...rest] = line.split(' ');
    if (tag === 'R') report.ready = true;
    else if (tag === 'I') {
      if (Number(n) !== report.ops.length + 1) throw new Error(`operation ${n} announced out of order`);
      report.ops.push(JSON.parse(rest.join(' ')) as CrashOp);
    } else if (tag === 'A') {
      if (Number(n) !== report.acked + 1) throw new Error(`operation ${n} acknowledged out of order (after ${report.acked})`);
      report.acked = Number(n);
    } else if (tag === 'SI') report.snapshotsIssued = Number(n);
    else if (tag === 'SA') report.snapshotsAcked = Number(n);
    else throw new Error(`unexpected line from the child: ${line}`);
  }
  return report;
}

describe.each(CRASH_ENGINES.map((engine) => ({ engine })))('crash safety with SIGKILL (real processes): $engine log', ({ engine }: { engine: CrashEngine }) => {
  let dir: string;
  let child: ChildProcess | null = null;
  let bin: { base: string; child: string } | null = null;

  beforeAll(async () => {
    ensureChildBuilt();
    bin = await privateCopyOfChild();
  }, 180_000);

  afterEach(() => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    child = null;
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
    if (bin) await rm(bin.base, { recursive: true, force: true });
  });

  /** Runs a child and SIGKILLs it `killAfterMs` after it reported ready (or after spawn, if `early`). */
  function runChild(seed: number, killAfterMs: number, early: boolean): Promise<ChildReport> {
    return new Promise((resolvePromise, reject) => {
      const proc = spawn(process.execPath, [bin!.child, dir, String(seed), engine], { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      let out = '';
      let stderr = '';
      const kill = (): void => {
        if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, 'SIGKILL');
      };
      let timer = setTimeout(kill, early ? killAfterMs : 30_000);
      proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
        // Startup time varies a lot on a busy machine: count from "ready", not from spawn.
        if (!early && out === '' && s.startsWith('R\n')) {
          clearTimeout(timer);
          timer = setTimeout(kill, killAfterMs);
        }
        out += s;
      });
      proc.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      proc.on('error', reject);
      proc.on('close', (exitCode, signal) => {
        clearTimeout(timer);
        try {
          resolvePromise(parseReport(out, { exitCode, signal, stderr }));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
  }

  it(
    `keeps every acknowledged write and nothing that was not written, over ${ROUNDS} kills`,
    async () => {
      console.log(`crash test (${engine}): ${ROUNDS} rounds, reproduce with CRASH_SEED=${SEED} CRASH_ROUNDS=${ROUNDS}`);
      dir = await mkdtemp(join(tmpdir(), 'conflux-crash-'));
      const rng = seededRng(SEED);
      let state: WorkloadState = emptyWorkloadState();
      let lastSnapshot = 0;
      let totalAcked = 0;
      let roundsLosingUnacked = 0;
      let roundsDurableUnacked = 0;
      for (let round = 0; round < ROUNDS; round++) {
        // Some kills land while the child is still starting or opening (and recovering) the database.
        const early = rng.next() < 0.15;
        const killAfterMs = early ? rng.int(0, 300) : rng.int(0, 250);
        const report = await runChild(rng.int(1, 2 ** 31), killAfterMs, early);
        const where = `round ${round} (CRASH_SEED=${SEED}), killed ${killAfterMs} ms after ${early ? 'spawn' : 'ready'}`;
        expect(report.signal, `${where}: the child must die by SIGKILL, not exit (stderr: ${report.stderr})`).toBe('SIGKILL');

        // Every prefix of the announced operations, from "none applied" to "all applied".
        const candidates: string[] = [];
        const replay = cloneState(state);
        candidates.push(fingerprint(replay));
        for (const op of report.ops) {
          applyOp(replay, op);
          candidates.push(fingerprint(replay));
        }
        const log = await openCrashLog(engine, dir).catch((err: unknown) => {
          throw new Error(`${where}: the log does not open after the kill: ${String(err)} (child stderr: ${report.stderr})`, { cause: err });
        });
        let found: WorkloadState;
        try {
          found = await readWorkloadState(log);
        } finally {
          await log.close();
        }
        const applied = candidates.indexOf(fingerprint(found));
        expect(applied, `${where}: the log on disk is not any prefix of the announced operations:\n${fingerprint(found)}`).toBeGreaterThanOrEqual(0);
        expect(applied, `${where}: acknowledged operations were lost`).toBeGreaterThanOrEqual(report.acked);
        if (applied < report.ops.length) roundsLosingUnacked++;
        if (applied > report.acked) roundsDurableUnacked++;
        totalAcked += report.acked;
        state = found;

        const snapshots = await SnapshotStore.open(join(dir, 'snapshots'));
        try {
          const latest = snapshots.latest()?.meta.index ?? 0;
          expect(latest, `${where}: an acknowledged snapshot was lost`).toBeGreaterThanOrEqual(Math.max(report.snapshotsAcked, lastSnapshot));
          expect(latest, `${where}: a snapshot that was never saved`).toBeLessThanOrEqual(Math.max(report.snapshotsIssued, lastSnapshot));
          if (latest > 0) {
            const reader = await snapshots.openReader();
            const parts: Uint8Array[] = [];
            for await (const chunk of reader.chunks(0, 65_536)) parts.push(chunk);
            await reader.close();
            expect(Buffer.compare(Buffer.concat(parts), workloadSnapshotData(latest)), `${where}: snapshot ${latest} content`).toBe(0);
          }
          lastSnapshot = latest;
        } finally {
          await snapshots.close();
        }
      }
      // The test is only worth something if the children got work done and were killed mid-way.
      expect(totalAcked).toBeGreaterThan(ROUNDS * 5);
      console.log(
        `crash test: ${totalAcked} operations acknowledged; rounds that lost unacknowledged operations: ${roundsLosingUnacked}, ` +
          `that kept operations durable before their acknowledgement: ${roundsDurableUnacked}`,
      );
    },
    ROUNDS * 3_000 + 60_000,
  );
});
