// The compiled `conflux` CLI as a child process against a test server: what only a real process
// shows (exit codes, stdin, environment variables, SIGINT). Output formats are in run.test.ts.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UnauthorizedError } from '../../node/src/server/http/index.js';
import { startServer, type TestServer } from '../http/harness.js';
import { buildCli, type BuiltCli } from './build-cli.js';
import { refusedURL } from '../support/ports.js';

let cli: BuiltCli;
let t: TestServer;
let deadURL: string;

beforeAll(async () => {
  [cli, t] = await Promise.all([
    buildCli(),
    startServer({
      options: { listLimitMax: 2 },
      authorize: (req) => {
        const auth = req.get('Authorization');
        if (auth !== undefined && auth !== 'Bearer right') throw new UnauthorizedError('bad token');
      },
    }),
  ]);
  deadURL = await refusedURL();
});
afterAll(async () => {
  await t?.close();
  await cli?.cleanup();
});
beforeEach(() => t.node.reset());

interface Result {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

function conflux(
  args: string[],
  options: { stdin?: string | Buffer; env?: Record<string, string>; endpoints?: string | null; untilStdout?: RegExp; signalAfterMatch?: NodeJS.Signals } = {},
): Promise<Result> {
  const endpoints = options.endpoints === undefined ? ['--endpoints', t.url] : options.endpoints === null ? [] : ['--endpoints', options.endpoints];
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', ...options.env };
  const child = spawn(process.execPath, [cli.script, ...args, ...endpoints], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  let signalled = false;
  child.stdout.on('data', (c: Buffer) => {
    out.push(c);
    if (!signalled && options.untilStdout?.test(Buffer.concat(out).toString())) {
      signalled = true;
      child.kill(options.signalAfterMatch ?? 'SIGINT');
    }
  });
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.stdin.end(options.stdin);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

describe('compiled conflux CLI', () => {
  it('reads the value from stdin, prints raw bytes, and exits 0', async () => {
    const put = await conflux(['put', 'app/config.yaml', '--content-type', 'application/yaml'], { stdin: 'a: 1\n' });
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    expect(put.stdout.toString()).toBe('created app/config.yaml revision=1 version=1\n');
    const get = await conflux(['get', 'app/config.yaml']);
    expect(get.code).toBe(0);
    expect(get.stdout.toString()).toBe('a: 1\n');
  });

  it('exits 1 when the server refuses, with its code and message on stderr', async () => {
    const missing = await conflux(['get', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('conflux: not_found: key does not exist (key=nope)\n');
    expect(missing.stdout.length).toBe(0);
  });

  it('exits 2 on a usage error without contacting a server, 0 for --help', async () => {
    const r = await conflux(['get'], { endpoints: deadURL });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/get needs a KEY/);
    const help = await conflux(['--help'], { endpoints: null });
    expect(help.code).toBe(0);
    expect(help.stdout.toString()).toMatch(/^Usage: conflux/);
  });

  it('exits 3 when no endpoint can be reached; CONFLUX_ENDPOINTS lists fallbacks', async () => {
    const down = await conflux(['status'], { endpoints: deadURL });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(/cannot reach any endpoint: .*ECONNREFUSED/);
    t.node.applyNow({ type: 'put', key: 'k', value: new TextEncoder().encode('v'), contentType: 'text/plain' });
    const fromEnv = await conflux(['get', 'k'], { endpoints: null, env: { CONFLUX_ENDPOINTS: `${deadURL},${t.url}` } });
    expect(fromEnv.code).toBe(0);
    expect(fromEnv.stdout.toString()).toBe('v');
  });

  it('sends --token / CONFLUX_TOKEN as a bearer token and never prints it', async () => {
    expect((await conflux(['status', '--token', 'right'])).code).toBe(0);
    expect((await conflux(['status'], { env: { CONFLUX_TOKEN: 'right' } })).code).toBe(0);
    const wrong = await conflux(['status', '--token', 'wrong-secret']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/unauthorized: bad token/);
    expect(wrong.stderr).not.toContain('wrong-secret');
  });

  it('watch prints events as they happen and exits 0 on Ctrl-C (SIGINT)', async () => {
    t.node.applyNow({ type: 'put', key: 'w/a', value: new TextEncoder().encode('1'), contentType: 'text/plain' });
    const writer = setInterval(() => {
      t.node.applyNow({ type: 'put', key: 'w/b', value: new TextEncoder().encode('live'), contentType: 'text/plain' });
    }, 100);
    try {
      const r = await conflux(['watch', 'w/', '--from-revision', '1'], { untilStdout: /PUT w\/b revision=\d+ version=\d+\tlive\n/ });
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toMatch(/^PUT w\/a revision=1 version=1\t1\nPUT w\/b revision=2 version=1\tlive\n/);
    } finally {
      clearInterval(writer);
    }
  });
});
