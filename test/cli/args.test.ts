// `conflux` argument parsing: every command's accepted forms, global options from flags and
// environment, and the usage errors (exit code 2) for what is refused.
import { describe, expect, it } from 'vitest';
import { DEFAULT_ENDPOINT, parseArgs, type CliCommand } from '../../node/src/cli/args.js';

function command(argv: string[], env: Record<string, string> = {}): CliCommand {
  const r = parseArgs(argv, env);
  if (!r.ok) throw new Error(`unexpected usage error: ${r.error}`);
  return r.command;
}

function usageError(argv: string[], env: Record<string, string> = {}): string {
  const r = parseArgs(argv, env);
  if (r.ok) throw new Error(`expected a usage error for ${argv.join(' ')}`);
  return r.error;
}

describe('global options', () => {
  it('defaults: one local endpoint, text output, no token, 10 s timeout', () => {
    const r = parseArgs(['status'], {});
    expect(r).toEqual({
      ok: true,
      global: { endpoints: [DEFAULT_ENDPOINT], output: 'text', token: undefined, timeoutMs: 10_000 },
      command: { name: 'status' },
    });
  });

  it('reads flags anywhere on the line, in both --flag value and --flag=value forms', () => {
    const r = parseArgs(['--output=json', 'get', 'a/b', '--endpoints', 'http://n1:7070, https://n2:7070/', '--token', 's3cret', '--timeout-ms=500'], {});
    expect(r).toMatchObject({
      ok: true,
      global: { endpoints: ['http://n1:7070', 'https://n2:7070'], output: 'json', token: 's3cret', timeoutMs: 500 },
    });
    expect(parseArgs(['-o', 'json', 'status'], {})).toMatchObject({ ok: true, global: { output: 'json' } });
  });

  it('falls back to CONFLUX_ENDPOINTS, CONFLUX_TOKEN and CONFLUX_OUTPUT; flags win', () => {
    const env = { CONFLUX_ENDPOINTS: 'http://a:1,http://b:2', CONFLUX_TOKEN: 'envtok', CONFLUX_OUTPUT: 'json' };
    expect(parseArgs(['status'], env)).toMatchObject({
      ok: true,
      global: { endpoints: ['http://a:1', 'http://b:2'], token: 'envtok', output: 'json' },
    });
    expect(parseArgs(['status', '--endpoints', 'http://c:3', '--token', 'flag'], env)).toMatchObject({
      ok: true,
      global: { endpoints: ['http://c:3'], token: 'flag' },
    });
  });

  it.each([
    [['status', '--endpoints', 'not a url'], /not a URL/],
    [['status', '--endpoints', 'ftp://x'], /http/],
    [['status', '--endpoints', ','], /at least one/],
    [['status', '--output', 'yaml'], /text or json/],
    [['status', '--timeout-ms', '0'], /positive integer/],
    [['status', '--bogus'], /unknown option --bogus/],
    [['status', '--token'], /needs a value/],
    [['status', '--token', 'a', '--token', 'b'], /twice/],
  ])('refuses %j', (argv, message) => {
    expect(usageError(argv)).toMatch(message);
  });

  it('help and version', () => {
    expect(command([])).toEqual({ name: 'help' });
    expect(command(['--help'])).toEqual({ name: 'help' });
    expect(command(['put', '-h'])).toEqual({ name: 'help' });
    expect(command(['help'])).toEqual({ name: 'help' });
    expect(command(['--version'])).toEqual({ name: 'version' });
  });
});

describe('commands', () => {
  it.each<[string[], CliCommand]>([
    [['get', 'a/b'], { name: 'get', key: 'a/b', serializable: false }],
    [['get', 'a/b', '--revision', '7', '--serializable'], { name: 'get', key: 'a/b', revision: 7, serializable: true }],
    [['put', 'k'], { name: 'put', key: 'k', createOnly: false }],
    [['put', 'k', 'value.yaml', '--content-type', 'application/yaml'], { name: 'put', key: 'k', file: 'value.yaml', contentType: 'application/yaml', createOnly: false }],
    [['put', 'k', '-', '--if-match', '"12"'], { name: 'put', key: 'k', file: '-', ifMatch: 12, createOnly: false }],
    [['put', 'k', '--create-only'], { name: 'put', key: 'k', createOnly: true }],
    [['del', 'k', '--if-match', '3'], { name: 'del', key: 'k', ifMatch: 3 }],
    [['ls'], { name: 'ls', prefix: '', keysOnly: false, serializable: false }],
    [['ls', 'acme/', '--keys-only', '--page-size', '50'], { name: 'ls', prefix: 'acme/', keysOnly: true, pageSize: 50, serializable: false }],
    [['history', 'k'], { name: 'history', key: 'k' }],
    [['rollback', 'k', '4'], { name: 'rollback', key: 'k', toRevision: 4 }],
    [['rollback', 'k', '4', '--if-match', '9'], { name: 'rollback', key: 'k', toRevision: 4, ifMatch: 9 }],
    [['watch'], { name: 'watch', prefix: '' }],
    [['watch', 'acme/', '--from-revision', '10'], { name: 'watch', prefix: 'acme/', fromRevision: 10 }],
    [['members'], { name: 'members-list' }],
    [['members', 'list'], { name: 'members-list' }],
    [
      ['members', 'add', 'n4', '--peer-url', 'http://n4:7071', '--client-url', 'http://n4:7070'],
      { name: 'members-add', id: 'n4', peerURL: 'http://n4:7071', clientURL: 'http://n4:7070' },
    ],
    [
      ['members', 'add', 'n4', '--peer-url', 'http://n4:7071', '--client-url', 'http://n4:7070', '--incarnation', 'abc'],
      { name: 'members-add', id: 'n4', peerURL: 'http://n4:7071', clientURL: 'http://n4:7070', incarnation: 'abc' },
    ],
    [['members', 'promote', 'n4'], { name: 'members-promote', id: 'n4' }],
    [['members', 'remove', 'n4'], { name: 'members-remove', id: 'n4' }],
    [['leader', 'transfer'], { name: 'leader-transfer' }],
    [['leader', 'transfer', '--to', 'n2'], { name: 'leader-transfer', to: 'n2' }],
    [['get', '--', '-odd-key'], { name: 'get', key: '-odd-key', serializable: false }],
  ])('%j', (argv, expected) => {
    expect(command(argv)).toEqual(expected);
  });

  it.each([
    [['frobnicate'], /unknown command/],
    [['get'], /needs a KEY/],
    [['get', 'a', 'b'], /unexpected argument/],
    [['get', 'a/./b'], /'\.' and '\.\.'/],
    [['get', '../etc'], /'\.' and '\.\.'/],
    [['get', 'k', '--revision', 'abc'], /positive integer/],
    [['get', 'k', '--keys-only'], /unknown option --keys-only/],
    [['put', 'k', '--if-match', 'W/"1"'], /positive integer/],
    [['put', 'k', '--if-match', '1', '--create-only'], /exclude/],
    [['ls', '--page-size', '0'], /positive integer/],
    [['rollback', 'k'], /KEY and REV/],
    [['rollback', 'k', 'latest'], /positive integer/],
    [['watch', '--from-revision', '-3'], /unknown option|positive integer/],
    [['members', 'add', 'n4', '--peer-url', 'http://x'], /usage: conflux members add/],
    [['members', 'promote'], /members promote ID/],
    [['members', 'explode'], /unknown members action/],
    [['members', 'list', '--peer-url', 'http://x'], /only for members add/],
    [['leader'], /leader transfer/],
    [['leader', 'elect'], /leader transfer/],
    [['status', 'extra'], /unexpected argument/],
  ])('refuses %j', (argv, message) => {
    expect(usageError(argv)).toMatch(message);
  });
});
