// The two systems under test, started on 127.0.0.1 with free ports and temp data directories:
// Conflux (dist/node/src/cli/conflux-node.js, --initial-cluster) and etcd (Debian's etcd-server,
// fsync on). Both expose the same small Protocol so that every workload is written once.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join, resolve } from 'node:path';
import { request, type Req, type Target } from './loadgen.js';
import { makeTempDir, removeTempDir, startProcess, stopProcess, waitFor, isRunning, type Proc } from './procs.js';
import { keyName, prefixEnd, type ValueMaker } from './values.js';

export type SystemName = 'conflux' | 'etcd';

export interface Member {
  id: string;
  target: Target;
  proc: Proc;
}

export interface Cluster {
  system: SystemName;
  size: number;
  members: Member[];
  /** The member that leads now (asked of the cluster). */
  leader(): Promise<Member>;
  stop(): Promise<void>;
}

/** How a workload talks to a system. */
export interface Protocol {
  put(target: Target, key: string, values: ValueMaker, unique: string): Req;
  get(target: Target, key: string, serializable: boolean): Req;
  /** The store revision a successful put answered with. */
  putRevision(body: Buffer): number;
  /** A watch stream on `prefix`, as a request to send. */
  watch(target: Target, prefix: string): Req;
  /** Revisions of the events in a chunk of the stream (`carry` keeps a partial line). */
  watchParser(): (chunk: Buffer, onRevision: (rev: number) => void) => void;
  /** True once the stream says the watch is set up (first bytes of the stream). */
  watchReady(firstChunk: Buffer): boolean;
}

export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    ports.push((s.address() as net.AddressInfo).port);
  }
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const statusAgent = new http.Agent({ keepAlive: false });

async function json(target: Target, method: string, path: string, body?: string): Promise<{ status: number; value: unknown }> {
  const r = await request(statusAgent, { target, method, path, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body }, 2000);
  let value: unknown = null;
  try {
    value = JSON.parse(r.body.toString('utf8'));
  } catch {
    // not JSON
  }
  return { status: r.status, value };
}

// ------------------------------------------------------------------ Conflux

export const confluxBin = resolve(import.meta.dirname, '../../../node/src/cli/conflux-node.js');

export interface ConfluxStartOptions {
  /** conflux-node.js to run; default this build's, or $BENCH_CONFLUX_BIN (A/B of two builds). */
  bin?: string;
  /** Extra node.js flags for every node (e.g. --cpu-prof). */
  nodeArgs?: string[];
  /** Extra conflux-node flags. */
  flags?: string[];
}

export async function startConflux(size: number, o: ConfluxStartOptions = {}): Promise<Cluster> {
  const bin = o.bin ?? process.env.BENCH_CONFLUX_BIN ?? confluxBin;
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run "make build" first`);
  const root = makeTempDir('conflux-bench-');
  const ports = await freePorts(size * 2);
  const ids = Array.from({ length: size }, (_, i) => `n${i + 1}`);
  const initial = ids.map((id, i) => `${id}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
  const members: Member[] = ids.map((id, i) => {
    const client = ports[2 * i]!;
    const peer = ports[2 * i + 1]!;
    const args = [
      ...(o.nodeArgs ?? []),
      bin,
      '--id', id,
      '--data-dir', join(root, id),
      '--listen-client', `127.0.0.1:${client}`,
      '--listen-peer', `127.0.0.1:${peer}`,
      '--initial-cluster', initial,
      '--log-level', 'warn',
      // The fan-out workload opens up to 5,000 watch streams over the members (etcd has no limit).
      '--max-watchers', '20000',
      ...(o.flags ?? []),
    ];
    const proc = startProcess(`conflux ${id}`, process.execPath, args, join(root, `${id}.log`));
    return { id, target: { host: '127.0.0.1', port: client }, proc };
  });
  const cluster: Cluster = {
    system: 'conflux',
    size,
    members,
    async leader() {
      return waitFor('a Conflux leader', async () => {
        const statuses = await Promise.all(members.map((m) => json(m.target, 'GET', '/admin/status').catch(() => null)));
        const leaders = statuses.map((s) => (s?.value as { role?: string; id?: string } | null)).filter((v) => v?.role === 'leader');
        if (leaders.length !== 1) return null;
        const agreed = statuses.every((s) => (s?.value as { leaderId?: string } | null)?.leaderId === leaders[0]!.id);
        return agreed ? members.find((m) => m.id === leaders[0]!.id) : null;
      }, 20_000);
    },
    async stop() {
      await Promise.all(members.map((m) => stopProcess(m.proc)));
      removeTempDir(root);
    },
  };
  try {
    await waitFor('Conflux nodes ready', async () => {
      for (const m of members) if (!isRunning(m.proc)) throw new Error(`${m.id} exited; see ${m.proc.logFile}`);
      const ready = await Promise.all(members.map((m) => json(m.target, 'GET', '/readyz').then((r) => r.status === 200, () => false)));
      return ready.every(Boolean);
    }, 30_000);
    await cluster.leader();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

export const confluxProtocol: Protocol = {
  put(target, key, values, unique) {
    return { target, method: 'PUT', path: `/v1/kv/${key}`, headers: { 'content-type': 'application/octet-stream' }, body: values.bytes(unique) };
  },
  get(target, key, serializable) {
    return { target, method: 'GET', path: serializable ? `/v1/kv/${key}?consistency=serializable` : `/v1/kv/${key}`, headers: {} };
  },
  putRevision(body) {
    return (JSON.parse(body.toString('utf8')) as { revision: number }).revision;
  },
  watch(target, prefix) {
    return { target, method: 'GET', path: `/v1/watch?prefix=${encodeURIComponent(prefix)}`, headers: { accept: 'text/event-stream' } };
  },
  watchParser() {
    let carry = '';
    return (chunk, onRevision) => {
      const text = carry + chunk.toString('utf8');
      const lines = text.split('\n');
      carry = lines.pop()!;
      for (const line of lines) if (line.startsWith('id: ')) onRevision(Number(line.slice(4)));
    };
  },
  watchReady() {
    return true; // headers arrived: the watcher is registered before they are sent
  },
};

// ------------------------------------------------------------------ etcd

export function etcdBinary(): string | null {
  for (const p of ['/usr/bin/etcd', '/usr/local/bin/etcd']) if (existsSync(p)) return p;
  return null;
}

export function etcdVersion(bin: string): string {
  return execFileSync(bin, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.replace('etcd Version: ', '').trim();
}

export async function startEtcd(size: number): Promise<Cluster> {
  const bin = etcdBinary();
  if (!bin) throw new Error('etcd is not installed (run the bench through make, which installs etcd-server)');
  const root = makeTempDir('etcd-bench-');
  const ports = await freePorts(size * 2);
  const ids = Array.from({ length: size }, (_, i) => `e${i + 1}`);
  const initial = ids.map((id, i) => `${id}=http://127.0.0.1:${ports[2 * i + 1]}`).join(',');
  const token = `bench-${process.pid}-${Date.now()}`;
  const members: Member[] = ids.map((id, i) => {
    const client = `http://127.0.0.1:${ports[2 * i]}`;
    const peer = `http://127.0.0.1:${ports[2 * i + 1]}`;
    const args = [
      '--name', id,
      '--data-dir', join(root, id),
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', peer,
      '--initial-advertise-peer-urls', peer,
      '--initial-cluster', initial,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', token,
      '--logger', 'zap',
      '--log-level', 'warn',
      // Room for the whole run, and old revisions dropped like Conflux's default history retention.
      '--quota-backend-bytes', String(8 * 1024 ** 3),
      '--auto-compaction-mode', 'revision',
      '--auto-compaction-retention', '10000',
      // fsync stays on: no --unsafe-no-fsync.
    ];
    const proc = startProcess(`etcd ${id}`, bin, args, join(root, `${id}.log`));
    return { id, target: { host: '127.0.0.1', port: ports[2 * i]! }, proc };
  });
  const status = async (m: Member): Promise<{ memberId: string; leader: string } | null> => {
    const r = await json(m.target, 'POST', '/v3/maintenance/status', '{}').catch(() => null);
    const v = r?.value as { header?: { member_id?: string }; leader?: string } | null;
    return v?.header?.member_id && v.leader && v.leader !== '0' ? { memberId: v.header.member_id, leader: v.leader } : null;
  };
  const cluster: Cluster = {
    system: 'etcd',
    size,
    members,
    async leader() {
      return waitFor('an etcd leader', async () => {
        const s = await Promise.all(members.map(status));
        if (s.some((x) => x === null)) return null;
        const leaderId = s[0]!.leader;
        if (!s.every((x) => x!.leader === leaderId)) return null;
        return members[s.findIndex((x) => x!.memberId === leaderId)];
      }, 20_000);
    },
    async stop() {
      await Promise.all(members.map((m) => stopProcess(m.proc)));
      removeTempDir(root);
    },
  };
  try {
    await waitFor('etcd members healthy', async () => {
      for (const m of members) if (!isRunning(m.proc)) throw new Error(`${m.id} exited; see ${m.proc.logFile}`);
      const h = await Promise.all(members.map((m) => json(m.target, 'GET', '/health').then((r) => (r.value as { health?: string } | null)?.health === 'true', () => false)));
      return h.every(Boolean);
    }, 30_000);
    await cluster.leader();
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

const b64 = (s: string | Buffer): string => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s).toString('base64');
const keyB64 = new Map<string, string>();
const keyBase64 = (key: string): string => {
  let v = keyB64.get(key);
  if (v === undefined) keyB64.set(key, (v = b64(key)));
  return v;
};

export const etcdProtocol: Protocol = {
  put(target, key, values, unique) {
    const body = `{"key":"${keyBase64(key)}","value":"${values.base64(unique)}"}`;
    return { target, method: 'POST', path: '/v3/kv/put', headers: { 'content-type': 'application/json' }, body };
  },
  get(target, key, serializable) {
    const body = serializable ? `{"key":"${keyBase64(key)}","serializable":true}` : `{"key":"${keyBase64(key)}"}`;
    return { target, method: 'POST', path: '/v3/kv/range', headers: { 'content-type': 'application/json' }, body };
  },
  putRevision(body) {
    return Number((JSON.parse(body.toString('utf8')) as { header: { revision: string } }).header.revision);
  },
  watch(target, prefix) {
    const body = JSON.stringify({ create_request: { key: b64(prefix), range_end: b64(prefixEnd(prefix)) } });
    return { target, method: 'POST', path: '/v3/watch', headers: { 'content-type': 'application/json' }, body };
  },
  watchParser() {
    let carry = '';
    const re = /"mod_revision":"(\d+)"/g;
    return (chunk, onRevision) => {
      const text = carry + chunk.toString('utf8');
      const end = text.lastIndexOf('\n');
      if (end < 0) {
        carry = text;
        return;
      }
      carry = text.slice(end + 1);
      const complete = text.slice(0, end);
      re.lastIndex = 0;
      for (let m = re.exec(complete); m !== null; m = re.exec(complete)) onRevision(Number(m[1]));
    };
  },
  watchReady(first) {
    return first.toString('utf8').includes('"created":true');
  },
};

export function protocolOf(system: SystemName): Protocol {
  return system === 'conflux' ? confluxProtocol : etcdProtocol;
}

export { keyName };
