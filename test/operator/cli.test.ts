// conflux-operator's flags, environment variables, logger and kubeconfig loading.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import { describe, expect, it } from 'vitest';
import { flagHelpLines } from '../../node/src/cli/flag-parser.js';
import { usage as nodeUsage } from '../../node/src/cli/node-flags.js';
import { createLogger, loadKubeConfig, parseOperatorFlags, usage, UsageError } from '../../operator/src/cli.js';

describe('parseOperatorFlags', () => {
  it('has defaults: every namespace, no election, pods by IP, 0.0.0.0:8080', () => {
    const f = parseOperatorFlags([], {});
    expect(f).toMatchObject({ logLevel: 'info', logFormat: 'json', adminTimeoutMs: 15_000 });
    expect(f.kubeconfig).toBeUndefined();
    expect(f.config).toMatchObject({ listen: { host: '0.0.0.0', port: 8080 }, workers: 2, resyncMs: 30_000 });
    expect(f.config.reconcile).toMatchObject({ clusterDomain: 'cluster.local', podAddress: 'ip', listenOnPodIP: false, quorumLostAfterMs: 60_000 });
    expect(f.config.namespace).toBeUndefined();
    expect(f.config.leaderElection).toBeUndefined();
    expect(f.config.crashAfter).toBeUndefined();
  });

  it('reads every flag, inline or separate', () => {
    const f = parseOperatorFlags(
      [
        '--kubeconfig', '/tmp/kc', '--namespace=conflux', '--listen', '[::1]:9090', '--leader-elect', '--lease-name', 'ops-lease',
        '--identity=me', '--cluster-domain', 'k8s.test', '--pod-address=dns', '--listen-on-pod-ip', '--workers', '4',
        '--resync-ms=1000', '--admin-timeout-ms', '5000', '--log-level=debug', '--log-format', 'text', '--crash-after', 'remove',
        '--quorum-lost-after-ms=20000',
      ],
      {},
    );
    expect(f).toMatchObject({ kubeconfig: '/tmp/kc', logLevel: 'debug', logFormat: 'text', adminTimeoutMs: 5000 });
    expect(f.config).toMatchObject({
      namespace: 'conflux',
      listen: { host: '::1', port: 9090 },
      workers: 4,
      resyncMs: 1000,
      crashAfter: 'remove',
      reconcile: { clusterDomain: 'k8s.test', podAddress: 'dns', listenOnPodIP: true, quorumLostAfterMs: 20_000 },
      leaderElection: { namespace: 'conflux', name: 'ops-lease', identity: 'me', leaseDurationMs: 15_000 },
    });
  });

  it('takes CONFLUX_OPERATOR_* variables; flags win', () => {
    const f = parseOperatorFlags(['--workers', '3'], { CONFLUX_OPERATOR_WORKERS: '9', CONFLUX_OPERATOR_LEADER_ELECT: 'true', POD_NAMESPACE: 'ops', CONFLUX_OPERATOR_LOG_LEVEL: '' });
    expect(f.config.workers).toBe(3);
    expect(f.config.leaderElection).toMatchObject({ namespace: 'ops', name: 'conflux-operator' });
    expect(f.config.leaderElection!.identity).toMatch(/-[0-9a-f]{6}$/);
    expect(parseOperatorFlags([], { CONFLUX_OPERATOR_LEADER_ELECT: '1' }).config.leaderElection!.namespace).toBe('default');
    expect(parseOperatorFlags(['--leader-elect=false'], {}).config.leaderElection).toBeUndefined();
  });

  it('refuses what it does not understand', () => {
    const bad: [string[], RegExp][] = [
      [['extra'], /unexpected argument extra/],
      [['--nope'], /unknown flag --nope/],
      [['--namespace'], /--namespace needs a value/],
      [['--workers', '0'], /--workers must be a positive integer/],
      [['--resync-ms', '1.5'], /--resync-ms must be a positive integer/],
      [['--listen', '8080'], /--listen 8080: expected host:port/],
      [['--listen', 'h:99999'], /expected host:port/],
      [['--pod-address', 'ip6'], /--pod-address ip6: use ip, dns/],
      [['--log-format', 'xml'], /use json, text/],
      [['--crash-after', 'lunch'], /--crash-after lunch/],
    ];
    for (const [argv, message] of bad) {
      expect(() => parseOperatorFlags(argv, {}), argv.join(' ')).toThrow(message);
      expect(() => parseOperatorFlags(argv, {})).toThrow(UsageError);
    }
  });

  it('documents every flag', () => {
    const text = usage();
    for (const flag of ['--kubeconfig', '--namespace', '--leader-elect', '--pod-address', '--crash-after', 'CONFLUX_OPERATOR_']) expect(text).toContain(flag);
  });

  it('keeps a space between every flag and its help, however long the flag', () => {
    const lines = flagHelpLines([
      { name: 'a', kind: 'bool', help: 'short' },
      { name: 'history-retain-revisions', kind: 'int', help: 'long' },
    ]);
    expect(lines).toEqual(['  --a                               short', '  --history-retain-revisions VALUE  long']);
    for (const text of [usage(), nodeUsage()]) {
      for (const line of text.split('\n').filter((l) => l.startsWith('  --'))) expect(line, line).toMatch(/^ {2}--\S+( VALUE)? {2,}\S/);
    }
  });
});

describe('createLogger', () => {
  const capture = (format: 'json' | 'text') => {
    const lines: string[] = [];
    const logger = createLogger({ logLevel: 'info', logFormat: format });
    logger.clear();
    logger.add(new winston.transports.Stream({ stream: new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }) }));
    logger.info('membership changed', { change: 'add-learner' });
    logger.debug('hidden');
    return lines;
  };

  it('writes JSON lines with the component', () => {
    const [line] = capture('json');
    expect(JSON.parse(line!)).toMatchObject({ level: 'info', message: 'membership changed', change: 'add-learner', component: 'conflux-operator' });
  });

  it('writes text lines', () => {
    const lines = capture('text');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} info {2}membership changed \{"component":"conflux-operator","change":"add-learner"\}/);
  });
});

describe('loadKubeConfig', () => {
  it('reads a kubeconfig file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'conflux-kc-'));
    try {
      const file = join(dir, 'config');
      writeFileSync(
        file,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters: [{name: t, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]',
          'users: [{name: u, user: {token: abc}}]',
          'contexts: [{name: c, context: {cluster: t, user: u}}]',
          'current-context: c',
        ].join('\n'),
      );
      const kc = loadKubeConfig(file);
      expect(kc.getCurrentCluster()?.server).toBe('https://127.0.0.1:6443');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
