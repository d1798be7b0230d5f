// The CLI's `run()` in-process (fast): what each command prints in text and JSON, and its exit
// code. conflux.test.ts runs the compiled script as a child process for the process-level parts.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { run } from '../../node/src/cli/conflux.js';
import { startServer, type TestServer } from '../http/harness.js';
import { refusedURL } from '../support/ports.js';

let t: TestServer;
let deadURL: string;
let files: string;

beforeAll(async () => {
  t = await startServer({ options: { listLimitMax: 2 } });
  deadURL = await refusedURL();
  files = await mkdtemp(path.join(tmpdir(), 'conflux-run-'));
});
afterAll(async () => {
  await t.close();
  await rm(files, { recursive: true, force: true });
});
beforeEach(() => t.node.reset());

interface Result {
  code: number;
  stdout: Buffer;
  stderr: string;
}

async function conflux(args: string[], options: { stdin?: string | Buffer; endpoints?: string; tty?: boolean } = {}): Promise<Result> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  let err = '';
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const stdin = Object.assign(Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]), {
    isTTY: options.tty ?? false,
  });
  const code = await run([...args, '--endpoints', options.endpoints ?? t.url], { stdout, stderr, stdin, env: {} });
  return { code, stdout: Buffer.concat(out), stderr: err };
}

const text = (r: Result): string => r.stdout.toString();

describe('run()', () => {
  it('put from stdin and from a file, get as raw bytes or JSON', async () => {
    const put = await conflux(['put', 'app/config.yaml', '--content-type', 'application/yaml'], { stdin: 'a: 1\n' });
    expect(put).toEqual({ code: 0, stdout: Buffer.from('created app/config.yaml revision=1 version=1\n'), stderr: '' });
    const file = path.join(files, 'bin');
    await writeFile(file, Buffer.from([0, 1, 2, 255]));
    expect(text(await conflux(['put', 'app/bin', file]))).toBe('created app/bin revision=2 version=1\n');
    expect(text(await conflux(['put', 'app/bin', file, '-o', 'json']))).toBe(
      `${JSON.stringify({ key: 'app/bin', revision: 3, createRevision: 2, modRevision: 3, version: 2, created: false }, null, 2)}\n`,
    );
    expect(text(await conflux(['get', 'app/config.yaml']))).toBe('a: 1\n');
    expect([...(await conflux(['get', 'app/bin'])).stdout]).toEqual([0, 1, 2, 255]);
    expect(JSON.parse(text(await conflux(['get', 'app/bin', '--output', 'json'])))).toEqual({
      key: 'app/bin',
      value: Buffer.from([0, 1, 2, 255]).toString('base64'),
      encoding: 'base64',
      contentType: 'application/octet-stream',
      modRevision: 3,
      createRevision: 2,
      version: 2,
      revision: 3,
    });
    expect(JSON.parse(text(await conflux(['get', 'app/bin', '--revision', '2', '-o', 'json']))).version).toBe(1);
  });

  it('refuses to wait on a terminal for a value', async () => {
    const r = await conflux(['put', 'k'], { tty: true });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs a FILE argument or the value on stdin/);
  });

  it('compare-and-set and create-only; refusals exit 1 with code, message and details', async () => {
    expect((await conflux(['put', 'k', '--create-only'], { stdin: 'v1' })).code).toBe(0);
    const again = await conflux(['put', 'k', '--create-only'], { stdin: 'v2' });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^conflux: precondition_failed: .*\(key=k modRevision=1 revision=1\)\n$/);
    expect((await conflux(['put', 'k', '--if-match', '1'], { stdin: 'v2' })).code).toBe(0);
    expect((await conflux(['put', 'k', '--if-match', '"1"'], { stdin: 'v3' })).code).toBe(1);
    const missing = await conflux(['get', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('conflux: not_found: key does not exist (key=nope)\n');
    expect(missing.stdout.length).toBe(0);
  });

  it('del, history and rollback', async () => {
    await conflux(['put', 'k'], { stdin: 'good' });
    await conflux(['put', 'k'], { stdin: 'bad\nlines' });
    expect(text(await conflux(['rollback', 'k', '1']))).toBe('rolled back k to revision 1: revision=3 version=3\n');
    expect(text(await conflux(['get', 'k']))).toBe('good');
    expect((await conflux(['del', 'k', '--if-match', '9'])).code).toBe(1);
    expect(text(await conflux(['del', 'k']))).toBe('deleted k revision=4\n');
    expect(text(await conflux(['history', 'k'])).split('\n')).toEqual([
      'revision=4 deleted',
      'revision=3 version=3 application/octet-stream\tgood',
      'revision=2 version=2 application/octet-stream\t"bad\\nlines"',
      'revision=1 version=1 application/octet-stream\tgood',
      '',
    ]);
    const json = JSON.parse(text(await conflux(['history', 'k', '-o', 'json']))) as { items: { deleted: boolean }[] };
    expect(json.items.map((i) => i.deleted)).toEqual([true, false, false, false]);
  });

  it('ls pages through every key (the server caps pages at 2)', async () => {
    for (const k of ['a/3', 'a/1', 'b/1', 'a/2', 'a/4', 'a/5']) {
      t.node.applyNow({ type: 'put', key: k, value: new TextEncoder().encode(`v-${k}`), contentType: 'text/plain' });
    }
    t.node.applyNow({ type: 'put', key: 'a/6', value: new Uint8Array([0xff, 0]), contentType: 'x/y' });
    expect(text(await conflux(['ls', 'a/', '--keys-only']))).toBe('a/1\na/2\na/3\na/4\na/5\na/6\n');
    expect(text(await conflux(['ls', 'a/', '--page-size', '1'])).split('\n')).toEqual([
      'a/1\tv-a/1',
      'a/2\tv-a/2',
      'a/3\tv-a/3',
      'a/4\tv-a/4',
      'a/5\tv-a/5',
      'a/6\t<2 bytes, binary>',
      '',
    ]);
    const json = JSON.parse(text(await conflux(['ls', '--output', 'json', '--serializable']))) as { items: { key: string }[] };
    expect(json.items.map((i) => i.key)).toEqual(['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'a/6', 'b/1']);
  });

  it('status, members and leader transfer', async () => {
    expect(JSON.parse(text(await conflux(['status', '-o', 'json'])))).toMatchObject({ id: 'n1', role: 'leader' });
    expect(text(await conflux(['status']))).toContain('role: leader\nterm: 1\nleaderId: n1\n');
    const add = await conflux(['members', 'add', 'n2', '--peer-url', 'http://127.0.0.1:9002', '--client-url', 'http://127.0.0.1:9003']);
    expect(add).toMatchObject({ code: 0, stderr: '' });
    expect(text(add)).toBe('added n2 as a learner\n');
    expect(text(await conflux(['members', 'promote', 'n2']))).toBe('promoted n2 to voter\n');
    const list = text(await conflux(['members']));
    expect(list).toMatch(/^leader: n1\nID +ROLE +HEALTHY +MATCH +LAG +PEER URL +CLIENT URL\nn1 +voter/);
    expect(list).toMatch(/\nn2 +voter +yes +0 +0 +http:\/\/127\.0\.0\.1:9002 +http:\/\/127\.0\.0\.1:9003\n$/);
    expect(JSON.parse(text(await conflux(['members', 'list', '-o', 'json']))).members).toHaveLength(2);
    expect(text(await conflux(['leader', 'transfer', '--to', 'n2']))).toBe('leader is now n2\n');
    expect(text(await conflux(['members', 'remove', 'n2']))).toBe('removed n2\n');
    const unknown = await conflux(['members', 'remove', 'n2']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^conflux: unknown_member: /);
    const invalid = await conflux(['members', 'add', 'n3', '--peer-url', 'ftp://x', '--client-url', 'http://y']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/invalid_url/);
  });

  it('usage errors exit 2; unreachable endpoints exit 3; a down endpoint is skipped', async () => {
    const usage = await conflux(['get']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toBe('conflux: get needs a KEY\n(see conflux --help)\n');
    const missingFile = await conflux(['put', 'k', path.join(files, 'does-not-exist')]);
    expect(missingFile.code).toBe(2);
    expect(missingFile.stderr).toMatch(/cannot read .*ENOENT/);
    const down = await conflux(['get', 'k'], { endpoints: deadURL });
    expect(down.code).toBe(3);
    expect(down.stderr).toBe(`conflux: cannot reach any endpoint: ${deadURL} (ECONNREFUSED)\n`);
    expect((await conflux(['put', 'k'], { endpoints: `${deadURL},${t.url}`, stdin: 'v' })).code).toBe(0);
    expect(text(await conflux(['--version']))).toMatch(/^conflux \d+\.\d+\.\d+\n$/);
  });

  it('watch prints put and delete events until aborted', async () => {
    t.node.applyNow({ type: 'put', key: 'w/a', value: new TextEncoder().encode('1'), contentType: 'text/plain' });
    t.node.applyNow({ type: 'delete', key: 'w/a' });
    const controller = new AbortController();
    const stdout = new PassThrough();
    let printed = '';
    stdout.on('data', (c: Buffer) => {
      printed += c.toString();
      if (printed.split('\n').length > 3) controller.abort();
    });
    const done = run(['watch', 'w/', '--from-revision', '1', '--endpoints', t.url], {
      stdout,
      stderr: new PassThrough(),
      stdin: Readable.from([]),
      env: {},
      signal: controller.signal,
    });
    setTimeout(() => t.node.applyNow({ type: 'put', key: 'w/b', value: new Uint8Array([0x80]), contentType: 'x/y' }), 50);
    expect(await done).toBe(0);
    expect(printed).toBe('PUT w/a revision=1 version=1\t1\nDELETE w/a revision=2\nPUT w/b revision=3 version=1\t<1 bytes, binary>\n');
  });
});
