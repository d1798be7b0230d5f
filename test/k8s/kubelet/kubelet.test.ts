// Unit tests of the process kubelet's pure parts: $(VAR) expansion, the downward API, image
// mapping, addresses and hosts files, probe thresholds. The kubelet as a whole is exercised by
// the operator e2e scenarios against a real control plane.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { afterAll, describe, expect, it } from 'vitest';
import { AddressPool, claimAddressBlock, hostsFile, podHostNames } from './addresses.js';
import { REGISTRY } from './mount-points.js';
import { containerEnv, EnvError, expand, type EnvSources } from './env.js';
import { containerArgv, ImageError, imageRepository, REPO_ROOT, writeImageBin } from './images.js';
import { ProbeState, resolvePort, runProbe } from './probes.js';

const pod: V1Pod = {
  metadata: { name: 'demo-1', namespace: 'ns1', uid: 'u-1', labels: { app: 'conflux', 'job-name': 'b-1' } },
  spec: { nodeName: 'node-a', containers: [] },
};
const sources: EnvSources = {
  pod,
  podIP: '127.0.1.11',
  hostIP: '127.0.0.1',
  secret: (n) => (n === 's' ? { token: 'sekret', other: 'o' } : null),
  configMap: (n) => (n === 'c' ? { LEVEL: 'debug' } : null),
};

describe('env', () => {
  it('expands $(VAR) like Kubernetes: defined names, $$ escapes, undefined names kept', () => {
    expect(expand('--id=$(POD_NAME) $$(POD_NAME) $(NOPE) $(X', { POD_NAME: 'demo-0' })).toBe('--id=demo-0 $(POD_NAME) $(NOPE) $(X');
    expect(expand('a$b$', {})).toBe('a$b$');
  });

  it('fills the downward API, secret and configmap references, envFrom, in order', () => {
    const c: V1Container = {
      name: 'x',
      envFrom: [{ configMapRef: { name: 'c' }, prefix: 'CFG_' }],
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
        { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'JOB', valueFrom: { fieldRef: { fieldPath: "metadata.labels['job-name']" } } },
        { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'token' } } },
        { name: 'MAYBE', valueFrom: { secretKeyRef: { name: 'missing', key: 'k', optional: true } } },
        { name: 'URL', value: 'http://$(POD_IP):7070/$(JOB)' },
      ],
    };
    expect(containerEnv(c, sources)).toEqual({
      CFG_LEVEL: 'debug',
      POD_NAME: 'demo-1',
      POD_NAMESPACE: 'ns1',
      POD_UID: 'u-1',
      POD_IP: '127.0.1.11',
      HOST_IP: '127.0.0.1',
      NODE: 'node-a',
      JOB: 'b-1',
      TOKEN: 'sekret',
      URL: 'http://127.0.1.11:7070/b-1',
    });
  });

  it('refuses a missing required secret key and unsupported fields', () => {
    expect(() => containerEnv({ name: 'x', env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 's', key: 'nope' } } }] }, sources)).toThrow(EnvError);
    expect(() => containerEnv({ name: 'x', env: [{ name: 'T', valueFrom: { fieldRef: { fieldPath: 'spec.bogus' } } }] }, sources)).toThrow(/unsupported fieldRef/);
    expect(() => containerEnv({ name: 'x', envFrom: [{ secretRef: { name: 'missing' } }] }, sources)).toThrow(/not found/);
  });
});

describe('images', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('maps image repositories and entry points to local programs', () => {
    expect(imageRepository('registry.local:5000/team/conflux:0.1.0@sha256:abc')).toBe('conflux');
    expect(containerArgv({ image: 'conflux:0.1.0', command: ['conflux-node'], args: ['--id=a'] })).toEqual([
      process.execPath,
      join(REPO_ROOT, 'dist/node/src/cli/conflux-node.js'),
      '--id=a',
    ]);
    expect(containerArgv({ image: 'conflux-operator:dev', args: ['--leader-elect'] })).toEqual([process.execPath, join(REPO_ROOT, 'dist/operator/src/cli.js'), '--leader-elect']);
    expect(containerArgv({ image: 'conflux:1', command: ['/bin/sh', '-c'], args: ['exec conflux-node'] })).toEqual(['/bin/sh', '-c', 'exec conflux-node']);
    expect(() => containerArgv({ image: 'nginx:1.27' })).toThrow(ImageError);
    expect(() => containerArgv({ image: 'conflux:1', command: ['/opt/evil'] })).toThrow(/no entry point/);
  });

  it('writes PATH wrappers for the image entry points', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubelet-bin-'));
    dirs.push(dir);
    expect(writeImageBin(dir, 'conflux:0.1.0')).toBe(dir);
    const wrapper = readFileSync(join(dir, 'conflux-node'), 'utf8');
    expect(wrapper).toContain('dist/node/src/cli/conflux-node.js');
    expect(statSync(join(dir, 'conflux-node')).mode & 0o111).not.toBe(0);
    expect(writeImageBin(dir, 'busybox')).toBeNull();
  });
});

describe('addresses', () => {
  it('hands out addresses round-robin and reuses released ones last', () => {
    const pool = new AddressPool('127.0.9.', 10, 12);
    expect([pool.allocate(), pool.allocate()]).toEqual(['127.0.9.10', '127.0.9.11']);
    pool.release('127.0.9.10');
    expect(pool.allocate()).toBe('127.0.9.12');
    expect(pool.allocate()).toBe('127.0.9.10');
    expect(() => pool.allocate()).toThrow(/exhausted/);
    expect(() => new AddressPool('10.0.0.')).toThrow();
  });

  it('claims distinct address blocks for kubelets running at once and takes over a dead owner\'s', () => {
    const a = claimAddressBlock();
    const b = claimAddressBlock();
    try {
      expect(a.prefix).toMatch(/^127\.0\.(1\d\d|2[0-4]\d)\.$/);
      expect(b.prefix).not.toBe(a.prefix);
      // A block whose owner is gone (pid 0 is never a live process here) is free again.
      const octet = a.prefix.split('.')[2];
      writeFileSync(join(REGISTRY, `net-${octet}`), '999999999');
      const c = claimAddressBlock();
      expect(c.prefix).toBe(a.prefix);
      c.release();
    } finally {
      a.release();
      b.release();
    }
  });

  it('writes hosts files with every pod FQDN and the own short name', () => {
    const a = { ip: '127.0.9.10', names: podHostNames({ name: 'demo-0', namespace: 'ns', hostname: 'demo-0', subdomain: 'demo-peer' }, 'cluster.local') };
    const b = { ip: '127.0.9.11', names: podHostNames({ name: 'demo-1', namespace: 'ns', hostname: 'demo-1', subdomain: 'demo-peer' }, 'cluster.local') };
    const c = { ip: '127.0.9.12', names: podHostNames({ name: 'loose', namespace: 'ns' }, 'cluster.local') };
    const text = hostsFile(a, [a, b, c]);
    expect(text).toContain('127.0.9.10\tdemo-0.demo-peer.ns.svc.cluster.local demo-0\n');
    expect(text).toContain('127.0.9.11\tdemo-1.demo-peer.ns.svc.cluster.local\n');
    expect(text).not.toContain('loose');
    expect(text).toContain('127.0.0.1\tlocalhost');
  });
});

describe('probes', () => {
  it('counts consecutive results against the thresholds', () => {
    const s = new ProbeState({ failureThreshold: 2, successThreshold: 2 });
    expect(s.record('success')).toBeNull();
    expect(s.record('failure')).toBeNull();
    expect(s.record('failure')).toBe('failure');
    expect(s.record('success')).toBe('failure');
    expect(s.record('success')).toBe('success');
  });

  it('runs httpGet probes against the pod IP on a named port, tcpSocket and exec probes', async () => {
    let status = 200;
    const server = createServer((req, res) => {
      res.statusCode = req.url === '/readyz' ? status : 404;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const c: V1Container = { name: 'x', ports: [{ name: 'client', containerPort: port }] };
    try {
      expect(resolvePort('client', c)).toBe(port);
      expect(() => resolvePort('nope', c)).toThrow();
      const exec = async (cmd: string[]) => cmd[0] === 'ok';
      expect(await runProbe({ timeoutSeconds: 20, httpGet: { path: '/readyz', port: 'client' } } as never, c, '127.0.0.1', exec)).toBe('success');
      status = 503;
      expect(await runProbe({ timeoutSeconds: 20, httpGet: { path: '/readyz', port: 'client' } } as never, c, '127.0.0.1', exec)).toBe('failure');
      expect(await runProbe({ timeoutSeconds: 20, tcpSocket: { port } } as never, c, '127.0.0.1', exec)).toBe('success');
      expect(await runProbe({ exec: { command: ['ok'] } }, c, '127.0.0.1', exec)).toBe('success');
      expect(await runProbe({ exec: { command: ['no'] } }, c, '127.0.0.1', exec)).toBe('failure');
    } finally {
      server.close();
    }
    expect(await runProbe({ timeoutSeconds: 20, tcpSocket: { port } } as never, c, '127.0.0.1', async () => true)).toBe('failure');
  });
});
