// `conflux snapshot save|status` in-process (args, output, exit codes, files left behind) against
// the HTTP route GET /admin/snapshot served by a fake node with a real store.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../../node/src/cli/args.js';
import { run } from '../../node/src/cli/conflux.js';
import { parseClientTokens, tokenAuthorizer } from '../../node/src/server/auth.js';
import { parseNodeFlags, UsageError as NodeUsageError } from '../../node/src/cli/node-flags.js';
import { backupHeaderOf, BackupVerifier, encodeBackup, type BackupHeader } from '../../node/src/store/backup-format.js';
import { encodeCommand } from '../../node/src/store/index.js';
import { FakeNode } from '../http/fake-node.js';
import { startServer, type TestServer } from '../http/harness.js';
import { collect, meta } from '../store/helpers.js';
import { refusedURL } from '../support/ports.js';

/** A fake node that can produce backups of its (real) store. */
class BackupNode extends FakeNode {
  async waitApplied(index: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.store.appliedIndex() < index) {
      if (Date.now() > deadline) throw new Error('not caught up');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  openBackup(consistency: BackupHeader['consistency']): { header: BackupHeader; chunks: AsyncIterable<Uint8Array> } {
    const image = this.store.image(meta(this.store.appliedIndex(), 1));
    const header = backupHeaderOf(image.info, { clusterId: 'c-test', nodeId: this.id, createdAt: new Date(), consistency });
    return { header, chunks: encodeBackup(header, image.chunks) };
  }
}

let t: TestServer;
let plain: TestServer;
let dir: string;
let broken: http.Server;
let brokenURL: string;
let deadURL: string;

beforeAll(async () => {
  const node = new BackupNode();
  t = await startServer({ node });
  for (let i = 0; i < 50; i++) {
    const index = node.store.appliedIndex() + 1;
    node.store.apply([{ index, term: 1, kind: 'normal', data: encodeCommand({ type: 'put', key: `k/${i % 20}`, value: new TextEncoder().encode(`v${i}`), contentType: 'text/plain' }) }]);
  }
  plain = await startServer();
  dir = await mkdtemp(path.join(tmpdir(), 'conflux-snapcli-'));
  // Sends the first half of a valid backup, then cuts the connection.
  const full = await collect(node.openBackup('linearizable').chunks);
  broken = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/vnd.conflux.backup' });
    res.write(full.subarray(0, full.length >> 1), () => res.destroy());
  });
  await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
  brokenURL = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
  deadURL = await refusedURL();
});
afterAll(async () => {
  await t.close();
  await plain.close();
  broken.closeAllConnections();
  await new Promise<void>((r) => broken.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

async function conflux(args: string[], endpoints = t.url): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const stdin = Object.assign(Readable.from([]), { isTTY: false });
  const code = await run([...args, '--endpoints', endpoints, '--timeout-ms', '5000'], { stdout, stderr, stdin, env: {} });
  return { code, stdout: out, stderr: err };
}

describe('conflux snapshot: arguments', () => {
  it('parses save and status', () => {
    expect(parseArgs(['snapshot', 'save', 'b.bak'])).toMatchObject({ ok: true, command: { name: 'snapshot-save', file: 'b.bak', serializable: false } });
    expect(parseArgs(['snapshot', 'save', '--serializable', 'b.bak', '--token', 'x'])).toMatchObject({
      ok: true,
      global: { token: 'x' },
      command: { name: 'snapshot-save', file: 'b.bak', serializable: true },
    });
    expect(parseArgs(['snapshot', 'status', 'b.bak', '-o', 'json'])).toMatchObject({ ok: true, global: { output: 'json' }, command: { name: 'snapshot-status', file: 'b.bak' } });
  });

  it('refuses what it cannot do, with a usage message', () => {
    const error = (argv: string[]) => {
      const r = parseArgs(argv);
      return r.ok ? 'accepted' : r.error;
    };
    expect(error(['snapshot'])).toMatch(/usage: conflux snapshot save FILE/);
    expect(error(['snapshot', 'load', 'x'])).toMatch(/unknown snapshot action "load"/);
    expect(error(['snapshot', 'save'])).toMatch(/needs a FILE/);
    expect(error(['snapshot', 'save', '-'])).toMatch(/not stdout/);
    expect(error(['snapshot', 'save', 'a', 'b'])).toMatch(/unexpected argument "b"/);
    expect(error(['snapshot', 'status', 'a', '--serializable'])).toMatch(/only for snapshot save/);
    expect(error(['snapshot', 'status', 'a', '--if-match', '3'])).toMatch(/unknown option --if-match/);
  });
});

describe('conflux snapshot save and status', () => {
  it('saves a verified backup and prints what it holds; status agrees', async () => {
    const file = path.join(dir, 'ok.bak');
    const saved = await conflux(['snapshot', 'save', file]);
    expect(saved.stderr).toBe('');
    expect(saved.code).toBe(0);
    expect(saved.stdout).toMatch(/^file: .*ok\.bak\nrevision: 50\nkeys: 20\nsizeBytes: \d+\nsha256: [0-9a-f]{64}\nchecksum: ok\n/);
    expect(await readdir(dir)).toContain('ok.bak');
    expect(await readdir(dir)).not.toContain('ok.bak.part');

    const status = await conflux(['snapshot', 'status', file, '-o', 'json']);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ revision: 50, keys: 20, checksum: 'ok', clusterId: 'c-test', nodeId: 'n1', consistency: 'linearizable', records: 50 });
    expect(s.sizeBytes).toBe((await readFile(file)).length);
    expect(saved.stdout).toContain(`sha256: ${String(s.sha256)}`);

    const serializable = await conflux(['snapshot', 'save', path.join(dir, 'ser.bak'), '--serializable', '-o', 'json']);
    expect(JSON.parse(serializable.stdout)).toMatchObject({ consistency: 'serializable', revision: 50 });
  });

  it('status refuses damaged files with exit 1 and says why', async () => {
    const good = await readFile(path.join(dir, 'ok.bak')).catch(async () => {
      await conflux(['snapshot', 'save', path.join(dir, 'ok.bak')]);
      return readFile(path.join(dir, 'ok.bak'));
    });
    const cases: [string, Buffer, string][] = [
      ['flip', Buffer.from(good.map((b, i) => (i === good.length >> 1 ? b ^ 1 : b))), 'backup_corrupt'],
      ['cut', good.subarray(0, good.length - 10), 'backup_truncated'],
      ['magic', Buffer.concat([Buffer.from('NOTABACK'), good.subarray(8)]), 'backup_bad_magic'],
    ];
    for (const [name, bytes, code] of cases) {
      const file = path.join(dir, `${name}.bak`);
      await writeFile(file, bytes);
      const text = await conflux(['snapshot', 'status', file]);
      expect(text.code, name).toBe(1);
      expect(text.stderr, name).toContain(code);
      const json = await conflux(['snapshot', 'status', file, '-o', 'json']);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ checksum: 'bad', code });
    }
    const missing = await conflux(['snapshot', 'status', path.join(dir, 'missing.bak')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('backup_unreadable');
  });

  it('leaves no file when the stream breaks, the node refuses, or nothing answers', async () => {
    const file = path.join(dir, 'never.bak');
    const cut = await conflux(['snapshot', 'save', file], brokenURL);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/snapshot save failed: .*nothing was written/);
    const refused = await conflux(['snapshot', 'save', file], plain.url);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('not_supported');
    const dead = await conflux(['snapshot', 'save', file], deadURL);
    expect(dead.code).toBe(3);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.part`)).toBe(false);
  });

  it('the route refuses a bad consistency and answers a backup the verifier accepts', async () => {
    const bad = await fetch(`${t.url}/admin/snapshot?consistency=maybe`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('invalid_argument');
    const before = t.node.readBarriers;
    const res = await fetch(`${t.url}/admin/snapshot`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.conflux.backup');
    expect(res.headers.get('conflux-revision')).toBe('50');
    const v = new BackupVerifier();
    v.push(new Uint8Array(await res.arrayBuffer()));
    expect(v.end().header.revision).toBe(50);
    expect(t.node.readBarriers).toBe(before + 1);
    expect(t.logger.lines.some((l) => l.message === 'audit' && (l.meta as { action?: string }).action === 'backup')).toBe(true);
  });
});

describe('streaming', () => {
  it('streams a large store with backpressure, and notices a client that leaves', async () => {
    const node = new BackupNode();
    const big = new Uint8Array(256 * 1024).fill(7);
    for (let i = 0; i < 120; i++) node.applyNow({ type: 'put', key: `big/${i}`, value: big, contentType: 'application/octet-stream' });
    const server = await startServer({ node });
    try {
      // A slow reader: the server must wait for 'drain' rather than buffer ~30 MiB.
      const res = await fetch(`${server.url}/admin/snapshot`);
      const reader = res.body!.getReader();
      const v = new BackupVerifier();
      let chunks = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        v.push(value);
        if (++chunks % 50 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      const summary = v.end();
      expect(summary.sizeBytes).toBeGreaterThan(120 * 256 * 1024);
      expect(summary.header.keys).toBe(120);

      // Ctrl-C during `snapshot save`: it stops, says so, and leaves no file.
      const file = path.join(dir, 'interrupted.bak');
      const controller2 = new AbortController();
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      let err = '';
      stderr.on('data', (c: Buffer) => (err += c.toString()));
      stdout.resume();
      const running = run(['snapshot', 'save', file, '--endpoints', server.url], { stdout, stderr, stdin: Object.assign(Readable.from([]), { isTTY: false }), env: {}, signal: controller2.signal });
      await waitUntil(() => existsSync(`${file}.part`), 10_000);
      controller2.abort();
      expect(await running).toBe(1);
      expect(err).toMatch(/interrupted; nothing was written/);
      expect(existsSync(file)).toBe(false);
      expect(existsSync(`${file}.part`)).toBe(false);

      // A client that goes away mid-stream: the node stops and says so.
      const controller = new AbortController();
      const partial = await fetch(`${server.url}/admin/snapshot`, { signal: controller.signal });
      const r2 = partial.body!.getReader();
      await r2.read();
      controller.abort();
      await waitUntil(() => server.logger.lines.some((l) => l.message === 'backup stream abandoned by the client'));
    } finally {
      await server.close();
    }
  });

  it('cuts the connection when the image fails mid-stream, and save leaves no file', async () => {
    class FailingNode extends BackupNode {
      override openBackup(consistency: BackupHeader['consistency']) {
        const inner = super.openBackup(consistency);
        async function* failing(): AsyncGenerator<Uint8Array> {
          let n = 0;
          for await (const chunk of inner.chunks) {
            if (++n === 2) throw new Error('disk on fire');
            yield chunk;
          }
        }
        return { header: inner.header, chunks: failing() };
      }
    }
    const node = new FailingNode();
    for (let i = 0; i < 5; i++) node.applyNow({ type: 'put', key: `k${i}`, value: new TextEncoder().encode('x'), contentType: 'text/plain' });
    const server = await startServer({ node });
    try {
      const file = path.join(dir, 'failing.bak');
      const r = await conflux(['snapshot', 'save', file, '--serializable'], server.url);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/nothing was written/);
      expect(existsSync(file)).toBe(false);
      expect(existsSync(`${file}.part`)).toBe(false);
      expect(server.logger.lines.some((l) => l.message === 'backup stream failed' && (l.meta as { error?: string }).error === 'disk on fire')).toBe(true);
    } finally {
      await server.close();
    }
  });
});

async function waitUntil(f: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!f()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('backups need the admin token when auth is on', () => {
  it('401 without a token, 403 with a client token, 200 with the admin token (route and CLI)', async () => {
    const node = new BackupNode();
    node.applyNow({ type: 'put', key: 'a', value: new TextEncoder().encode('1'), contentType: 'text/plain' });
    const authorize = tokenAuthorizer({ clientGrants: parseClientTokens('reader read *\nwriter readwrite *'), adminToken: 'root-token' });
    const server = await startServer({ node, authorize });
    try {
      expect((await fetch(`${server.url}/admin/snapshot`)).status).toBe(401);
      expect((await fetch(`${server.url}/admin/snapshot`, { headers: { authorization: 'Bearer writer' } })).status).toBe(403);
      expect((await fetch(`${server.url}/admin/read-index`, { headers: { authorization: 'Bearer reader' } })).status).toBe(403);
      const ok = await fetch(`${server.url}/admin/snapshot?consistency=serializable`, { headers: { authorization: 'Bearer root-token' } });
      expect(ok.status).toBe(200);
      await ok.arrayBuffer();
      const file = path.join(dir, 'auth.bak');
      const denied = await conflux(['snapshot', 'save', file, '--token', 'reader'], server.url);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain('forbidden');
      expect(existsSync(file)).toBe(false);
      const saved = await conflux(['snapshot', 'save', file, '--token', 'root-token', '-o', 'json'], server.url);
      expect(saved.code, saved.stderr).toBe(0);
      expect(JSON.parse(saved.stdout)).toMatchObject({ revision: 1, keys: 1 });
    } finally {
      await server.close();
    }
  });
});

describe('a follower serves a linearizable backup from its own state', () => {
  it('asks the leader for a read index, waits until it applied that far, then streams', async () => {
    const leaderNode = new BackupNode('L');
    const followerNode = new BackupNode('F');
    const put = (n: BackupNode, i: number) => n.applyNow({ type: 'put', key: `f/k${i}`, value: new TextEncoder().encode(`v${i}`), contentType: 'text/plain' });
    for (let i = 0; i < 30; i++) put(leaderNode, i);
    for (let i = 0; i < 20; i++) put(followerNode, i);
    const leaderServer = await startServer({ node: leaderNode });
    const followerServer = await startServer({ node: followerNode });
    try {
      followerNode.becomeFollower('L', leaderServer.url);
      const pending = fetch(`${followerServer.url}/admin/snapshot`);
      // The follower must wait for entries 21..30 before capturing its image.
      await new Promise((r) => setTimeout(r, 150));
      for (let i = 20; i < 30; i++) put(followerNode, i);
      const res = await pending;
      expect(res.status).toBe(200);
      const v = new BackupVerifier();
      v.push(new Uint8Array(await res.arrayBuffer()));
      expect(v.end().header).toMatchObject({ nodeId: 'F', revision: 30, keys: 30 });
      expect(leaderNode.readBarriers).toBe(1);
      expect(followerNode.readBarriers).toBe(0);

      const direct = await fetch(`${leaderServer.url}/admin/read-index`);
      expect(await direct.json()).toEqual({ index: 30 });

      // The leader cannot be asked: 503, nothing streamed.
      followerNode.becomeFollower('L', deadURL);
      const down = await fetch(`${followerServer.url}/admin/snapshot`);
      expect(down.status).toBe(503);
      expect(((await down.json()) as { error: { code: string } }).error.code).toBe('no_leader');
      // The leader refuses (here: it is not the leader either): its answer comes back.
      leaderNode.becomeFollower(null, null);
      followerNode.becomeFollower('L', leaderServer.url);
      const refused = await fetch(`${followerServer.url}/admin/snapshot`);
      expect(refused.status).toBe(503);
    } finally {
      await leaderServer.close();
      await followerServer.close();
    }
  });
});

describe('conflux-node recovery flags', () => {
  const base = ['--id', 'n1', '--data-dir', '/tmp/x'];
  const parse = (extra: string[], env: NodeJS.ProcessEnv = {}) => {
    try {
      return parseNodeFlags([...base, ...extra], env);
    } catch (err) {
      if (err instanceof NodeUsageError) return err.message;
      throw err;
    }
  };

  it('reads --restore FILE and --force-new-cluster (flags or environment)', () => {
    expect(parse(['--restore', 'b.bak'])).toMatchObject({ recovery: { kind: 'restore', file: 'b.bak' }, mode: { kind: 'join' } });
    expect(parse(['--force-new-cluster'])).toMatchObject({ recovery: { kind: 'force-new-cluster' } });
    expect(parse([], { CONFLUX_RESTORE: '/backups/b.bak' })).toMatchObject({ recovery: { kind: 'restore', file: '/backups/b.bak' } });
    expect(parse([], { CONFLUX_FORCE_NEW_CLUSTER: 'true' })).toMatchObject({ recovery: { kind: 'force-new-cluster' } });
    expect(parse([])).not.toHaveProperty('recovery');
  });

  it('refuses combinations that make no sense, pointing at the multi-node procedure', () => {
    expect(parse(['--restore', 'b.bak', '--bootstrap'])).toMatch(/restore one and add the others with conflux members add/);
    expect(parse(['--restore', 'b.bak', '--initial-cluster', 'n1=http://127.0.0.1:1'])).toMatch(/cannot be combined with --initial-cluster/);
    expect(parse(['--force-new-cluster', '--restore', 'b.bak'])).toMatch(/--restore/);
    // A node's usual flags may stay: a directory with data ignores them.
    expect(parse(['--force-new-cluster', '--initial-cluster', 'n1=http://127.0.0.1:1'])).toMatchObject({ recovery: { kind: 'force-new-cluster' }, mode: { kind: 'initial-cluster' } });
    expect(parse(['--restore='])).toMatch(/needs a FILE/);
  });
});
