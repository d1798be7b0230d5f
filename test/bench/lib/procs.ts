// Child processes of the benchmark: every process is started here, remembered by PID, and stopped
// by that PID (SIGTERM, then SIGKILL); temp directories are removed at the end. A SIGINT/SIGTERM to
// the benchmark, an uncaught error or a plain exit stops everything that is still running.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Proc {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  exited: Promise<void>;
}

const running = new Map<number, Proc>();
const tempDirs = new Set<string>();
let handlersInstalled = false;

function killAllSync(): void {
  for (const p of running.values()) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  running.clear();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

/** Stop children and remove temp dirs on Ctrl-C, SIGTERM and exit. Call once at start. */
export function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}, stopping ${running.size} process(es) and removing temp dirs`);
      killAllSync();
      process.exit(130);
    });
  }
  process.on('exit', killAllSync);
}

export function makeTempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  tempDirs.delete(d);
}

export function startProcess(name: string, command: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  if (child.pid === undefined) throw new Error(`cannot start ${name} (${command})`);
  const out = createWriteStream(logFile, { flags: 'a' });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const p: Proc = { name, pid, child, logFile, exited };
  running.set(pid, p);
  void exited.then(() => running.delete(pid));
  child.once('error', () => running.delete(pid));
  return p;
}

export function isRunning(p: Proc): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** SIGTERM by PID, SIGKILL after `graceMs`. Resolves once the process is gone. */
export async function stopProcess(p: Proc, graceMs = 5000): Promise<void> {
  if (!isRunning(p)) {
    running.delete(p.pid);
    return;
  }
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    running.delete(p.pid);
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }, graceMs);
  await p.exited;
  clearTimeout(timer);
  running.delete(p.pid);
}

/** utime + stime of a process in milliseconds (/proc/PID/stat), or null when it is gone. */
export function processCpuMs(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  return parseProcStatCpuMs(stat);
}

/** Clock ticks per second of /proc (sysconf(_SC_CLK_TCK)); 100 on Linux everywhere that matters. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime (fields 14 and 15) of a /proc/PID/stat line, in ms. The name may hold spaces. */
export function parseProcStatCpuMs(stat: string): number {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): field n is rest[n - 3].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  return ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** The 1-minute load average and the whole uptime line, for the record. */
export function loadAverage(): { load1: number; load5: number; load15: number } {
  const [a, b, c] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return { load1: a!, load5: b!, load15: c! };
}

/**
 * The share of the last 10 s in which some runnable task waited for a CPU (Linux PSI,
 * /proc/pressure/cpu "some avg10", in %), or null where the kernel does not report it. Near 100 %
 * means every process, the servers under test included, queued for a CPU most of the time.
 */
export function cpuPressure(): number | null {
  try {
    const m = /some avg10=([0-9.]+)/.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, f: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await sleep(everyMs);
  }
}

export interface QuietOptions {
  /** CPU the processes may use together and still count as quiet, in cores. */
  idleCores: number;
  /** Length of one measuring window. */
  windowMs: number;
  /** Give up (and go on) after this long. */
  maxMs: number;
}

/**
 * Waits until `pids` together use less than `idleCores` over one window: a system's background
 * work after a run (snapshots, compactions, GC) then lands in its own pause, not in the next
 * system's measured run. Returns how long it waited, and whether it got quiet.
 */
export async function waitQuiet(pids: readonly number[], o: QuietOptions): Promise<{ waitedMs: number; quiet: boolean }> {
  const start = Date.now();
  const total = (): number => pids.reduce((sum, pid) => sum + (processCpuMs(pid) ?? 0), 0);
  for (;;) {
    const before = total();
    const t0 = Date.now();
    await sleep(o.windowMs);
    const cores = (total() - before) / Math.max(1, Date.now() - t0);
    const waitedMs = Date.now() - start;
    if (cores < o.idleCores) return { waitedMs, quiet: true };
    if (waitedMs >= o.maxMs) return { waitedMs, quiet: false };
  }
}
