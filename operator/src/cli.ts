#!/usr/bin/env node
// `conflux-operator`: flags (each also CONFLUX_OPERATOR_<NAME>), winston logs, the Kubernetes
// client, signals. The wiring itself is in main.ts.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import winston from 'winston';
import { flagHelpLines, flagPositiveInt, flagString, readFlags, UsageError, type FlagSpec } from '../../node/src/cli/flag-parser.js';
import { HttpAdminClient } from './conflux-admin.js';
import { ClientNodeKube } from './kube-client.js';
import { DEFAULT_LEASE_TIMING } from './leader-election.js';
import { clientNodeWatches, startOperator, type OperatorConfig } from './main.js';
import { OperatorMetrics } from './metrics.js';
import { DEFAULT_RECONCILE_OPTIONS, type MembershipChangeKind } from './reconcile/types.js';
import { realTimers } from './timers.js';

export { UsageError };



export const operatorFlagSpecs: FlagSpec[] = [
  { name: 'kubeconfig', kind: 'string', help: 'kubeconfig file (default: in-cluster config, then $KUBECONFIG / ~/.kube/config)' },
  { name: 'namespace', kind: 'string', help: 'reconcile ConfluxClusters of this namespace only (default: every namespace)' },
  { name: 'listen', kind: 'string', help: 'host:port of /healthz and /metrics (default 0.0.0.0:8080)' },
  { name: 'leader-elect', kind: 'bool', help: 'elect a leader through a coordination.k8s.io Lease (run several replicas)' },
  { name: 'lease-namespace', kind: 'string', help: 'namespace of the Lease (default: --namespace, else $POD_NAMESPACE, else default)' },
  { name: 'lease-name', kind: 'string', help: 'name of the Lease (default conflux-operator)' },
  { name: 'identity', kind: 'string', help: 'this candidate in the Lease (default: hostname and a random suffix)' },
  { name: 'cluster-domain', kind: 'string', help: 'cluster DNS domain of pod names (default cluster.local)' },
  { name: 'pod-address', kind: 'string', help: 'reach pods by their ip (default) or dns name under the peer Service' },
  { name: 'listen-on-pod-ip', kind: 'bool', help: 'nodes listen on their pod IP instead of 0.0.0.0 (pods sharing a network namespace)' },
  { name: 'workers', kind: 'int', help: 'ConfluxClusters reconciled in parallel (default 2)' },
  { name: 'resync-ms', kind: 'int', help: 'reconcile every ConfluxCluster at least this often (default 30000)' },
  { name: 'quorum-lost-after-ms', kind: 'int', help: 'report QuorumLost after this long without a leader while a majority answers (default 60000)' },
  { name: 'admin-timeout-ms', kind: 'int', help: 'timeout of membership changes through the admin API (default 15000)' },
  { name: 'log-level', kind: 'string', help: 'error|warn|info|debug (default info)' },
  { name: 'log-format', kind: 'string', help: 'json|text (default json)' },
  { name: 'crash-after', kind: 'string', help: 'TESTS ONLY: exit right after bootstrap|add-learner|promote|remove|leader-transfer|statefulset-scaled' },
];

export interface OperatorFlags {
  kubeconfig?: string;
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  logFormat: 'json' | 'text';
  adminTimeoutMs: number;
  config: OperatorConfig;
}

export function usage(): string {
  const lines = flagHelpLines(operatorFlagSpecs);
  return ['usage: conflux-operator [flags]', 'Every flag can also be set as CONFLUX_OPERATOR_<NAME>, e.g. CONFLUX_OPERATOR_NAMESPACE.', '', ...lines].join('\n');
}

const CRASH_POINTS = ['bootstrap', 'add-learner', 'promote', 'remove', 'leader-transfer', 'statefulset-scaled'] as const;

export function parseOperatorFlags(argv: string[], env: NodeJS.ProcessEnv): OperatorFlags {
  const values = readFlags(operatorFlagSpecs, argv, env, 'CONFLUX_OPERATOR');
  const str = (n: string) => flagString(values, n);
  const int = (n: string, def: number): number => flagPositiveInt(values, n) ?? def;
  const oneOf = <T extends string>(n: string, allowed: readonly T[], def: T): T => {
    const v = str(n) ?? def;
    if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${n} ${v}: use ${allowed.join(', ')}`);
    return v as T;
  };

  const listenRaw = str('listen') ?? '0.0.0.0:8080';
  const m = /^(.*):(\d{1,5})$/.exec(listenRaw);
  if (!m || !m[1] || Number(m[2]) > 65535) throw new UsageError(`--listen ${listenRaw}: expected host:port`);
  const listen = { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };

  const namespace = str('namespace');
  const config: OperatorConfig = {
    listen,
    reconcile: {
      ...DEFAULT_RECONCILE_OPTIONS,
      clusterDomain: str('cluster-domain') ?? DEFAULT_RECONCILE_OPTIONS.clusterDomain,
      podAddress: oneOf('pod-address', ['ip', 'dns'] as const, 'ip'),
      listenOnPodIP: values.get('listen-on-pod-ip') === true,
      quorumLostAfterMs: int('quorum-lost-after-ms', DEFAULT_RECONCILE_OPTIONS.quorumLostAfterMs),
    },
    workers: int('workers', 2),
    resyncMs: int('resync-ms', 30_000),
  };
  if (namespace !== undefined) config.namespace = namespace;
  if (values.get('leader-elect') === true) {
    config.leaderElection = {
      namespace: str('lease-namespace') ?? namespace ?? env.POD_NAMESPACE ?? 'default',
      name: str('lease-name') ?? 'conflux-operator',
      identity: str('identity') ?? `${hostname()}-${randomBytes(3).toString('hex')}`,
      ...DEFAULT_LEASE_TIMING,
    };
  }
  const crash = str('crash-after');
  if (crash !== undefined) config.crashAfter = oneOf('crash-after', CRASH_POINTS, 'bootstrap') as MembershipChangeKind | 'statefulset-scaled';
  const flags: OperatorFlags = {
    logLevel: oneOf('log-level', ['error', 'warn', 'info', 'debug'] as const, 'info'),
    logFormat: oneOf('log-format', ['json', 'text'] as const, 'json'),
    adminTimeoutMs: int('admin-timeout-ms', 15_000),
    config,
  };
  const kubeconfig = str('kubeconfig');
  if (kubeconfig !== undefined) flags.kubeconfig = kubeconfig;
  return flags;
}

export function createLogger(flags: Pick<OperatorFlags, 'logLevel' | 'logFormat'>): winston.Logger {
  const format =
    flags.logFormat === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.printf(({ timestamp, level, message, ...meta }) => {
            const rest = Object.keys(meta).length ? ' ' + JSON.stringify(meta) : '';
            return `${String(timestamp)} ${level.padEnd(5)} ${String(message)}${rest}`;
          }),
        );
  return winston.createLogger({
    level: flags.logLevel,
    format,
    defaultMeta: { component: 'conflux-operator' },
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
}

export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    return;
  }
  let flags: OperatorFlags;
  try {
    flags = parseOperatorFlags(argv, process.env);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`conflux-operator: ${err.message}\n\n${usage()}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(flags);
  const kc = loadKubeConfig(flags.kubeconfig);
  const running = await startOperator(flags.config, {
    kube: new ClientNodeKube(kc),
    admin: new HttpAdminClient({ changeTimeoutMs: flags.adminTimeoutMs }),
    timers: realTimers,
    logger,
    metrics: new OperatorMetrics({ processMetrics: true }),
    watches: clientNodeWatches(kc, flags.config.namespace),
    // An injected crash exits at once (nothing more of the pass may run); otherwise let logs flush.
    exit: (code) => (code === 3 ? process.exit(code) : void setTimeout(() => process.exit(code), 50)),
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('stopping', { signal });
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    running.stop().then(
      () => setTimeout(() => process.exit(0), 50),
      (err: Error) => {
        logger.error('error while stopping', { error: err.message });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: Error) => {
    console.error(`conflux-operator: ${err.message}`);
    process.exit(1);
  });
}
