// Real conflux-node processes on 127.0.0.1 for black-box tests. Every process is started here and
// stopped here by PID; every data directory lives under one temp folder removed by `destroy()`.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePorts } from './ports.js';

export const nodeBin = resolve(import.meta.dirname, '../../dist/node/src/cli/conflux-node.js');

export interface ProcNode {
  id: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  client: string;
  peerURL: string;
  proc: ChildProcess | null;
  logFile: string;
  extraArgs: string[];
}

export interface StatusBody {
  id: string;
  role: string;
  term: number;
  leaderId: string | null;
  clusterId: string;
  incarnation: string;
  commitIndex: number;
  appliedIndex: number;
}

export class ProcessCluster {
  readonly root = mkdtempSync(join(tmpdir(), 'conflux-proc-'));
  readonly nodes = new Map<string, ProcNode>();
  /** Sent as a bearer token by `status()` and `leader()` when the cluster runs with auth. */
  adminToken: string | undefined;

  constructor(private readonly baseArgs: string[] = ['--heartbeat-interval-ms', '50']) {
    if (!existsSync(nodeBin)) throw new Error(`${nodeBin} is missing: run "make build" (or npx tsc -p tsconfig.build.json) first`);
  }

  /** Allocate ports and directories for nodes (does not start them). */
  async define(ids: string[]): Promise<ProcNode[]> {
    const ports = await freePorts(ids.length * 2);
    return ids.map((id, i) => {
      const clientPort = ports[2 * i]!;
      const peerPort = ports[2 * i + 1]!;
      const node: ProcNode = {
        id,
        clientPort,
        peerPort,
        dataDir: join(this.root, id),
        client: `http://127.0.0.1:${clientPort}`,
        peerURL: `http://127.0.0.1:${peerPort}`,
        proc: null,
        logFile: join(this.root, `${id}.log`),
        extraArgs: [],
      };
      this.nodes.set(id, node);
      return node;
    });
  }

  /** Define and start a cluster from --initial-cluster. */
  async startStatic(ids: string[], extra: string[] = []): Promise<ProcNode[]> {
    const nodes = await this.define(ids);
    const initial = nodes.map((n) => `${n.id}=${n.peerURL}`).join(',');
    for (const n of nodes) {
      n.extraArgs = ['--initial-cluster', initial, ...extra];
      this.start(n.id);
    }
    return nodes;
  }

  start(id: string, extra: string[] = []): ProcNode {
    const n = this.node(id);
    if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) throw new Error(`${id} is already running`);
    const args = [
      nodeBin,
      '--id', n.id,
      '--data-dir', n.dataDir,
      '--listen-client', `127.0.0.1:${n.clientPort}`,
      '--listen-peer', `127.0.0.1:${n.peerPort}`,
      '--log-level', 'info',
      ...this.baseArgs,
      ...n.extraArgs,
      ...extra,
    ];
    const out = createWriteStream(n.logFile, { flags: 'a' });
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.pipe(out);
    proc.stderr?.pipe(out);
    n.proc = proc;
    return n;
  }

  node(id: string): ProcNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  running(): ProcNode[] {
    return [...this.nodes.values()].filter((n) => n.proc && n.proc.exitCode === null && n.proc.signalCode === null);
  }

  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.node(id);
    const p = n.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  async destroy(): Promise<void> {
    await Promise.all([...this.nodes.keys()].map((id) => this.kill(id, 'SIGKILL')));
    if (!process.env.KEEP_TEST_DIRS) rmSync(this.root, { recursive: true, force: true });
  }

  async status(id: string): Promise<StatusBody | null> {
    try {
      const headers: Record<string, string> = this.adminToken === undefined ? {} : { authorization: `Bearer ${this.adminToken}` };
      const r = await fetch(`${this.node(id).client}/admin/status`, { headers, signal: AbortSignal.timeout(1000) });
      return r.ok ? ((await r.json()) as StatusBody) : null;
    } catch {
      return null;
    }
  }

  /** The id of the node that all running nodes agree leads, waiting up to `timeoutMs`. */
  async leader(timeoutMs = 30_000): Promise<string> {
    return waitFor('an agreed leader', async () => {
      const statuses = await Promise.all(this.running().map((n) => this.status(n.id)));
      const leader = statuses.find((s) => s?.role === 'leader');
      if (!leader) return null;
      const agreed = statuses.every((s) => s && s.leaderId === leader.id);
      return agreed ? leader.id : null;
    }, timeoutMs);
  }

  async logs(id: string): Promise<string> {
    const { readFile } = await import('node:fs/promises');
    return readFile(this.node(id).logFile, 'utf8').catch(() => '');
  }
}

export async function waitFor<T>(what: string, f: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
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
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A small HTTP client for tests (the product's CLI client is tested on its own). */
export async function put(base: string, key: string, value: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/v1/kv/${key}`, { method: 'PUT', body: value, headers: { 'content-type': 'text/plain', ...headers }, signal: AbortSignal.timeout(10_000) });
}

/**
 * A write as a well-behaved client does it: 503 means "not applied, retry" (design section 3), so
 * retry those for a while (elections right after start-up, under load). Anything else is returned.
 */
export async function putRetrying(base: string, key: string, value: string, headers: Record<string, string> = {}, timeoutMs = 10_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await put(base, key, value, headers);
    if (r.status !== 503 || Date.now() > deadline) return r;
    await r.arrayBuffer();
    await new Promise((res) => setTimeout(res, 100));
  }
}

export async function get(base: string, key: string, query = ''): Promise<Response> {
  return fetch(`${base}/v1/kv/${key}${query}`, { signal: AbortSignal.timeout(10_000) });
}
