// TLS on the client and peer ports, from certificate files generated here with openssl: a 3-node
// cluster with HTTPS client ports and mutually authenticated HTTPS peer links forms, replicates
// and forwards over TLS; plain HTTP, an untrusted server certificate, a peer without a client
// certificate and a peer with a certificate from another CA are all refused.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessCluster, waitFor, type ProcNode } from '../support/process-cluster.js';

let cluster: ProcessCluster;
let nodes: ProcNode[];
let dir: string;
let ca: Buffer;
let peerCert: { cert: Buffer; key: Buffer };
let rogueCert: { cert: Buffer; key: Buffer };

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, and a certificate for 127.0.0.1 signed by it (server and client use). */
function makeCa(name: string): void {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} test CA`);
}
function makeCert(ca: string, name: string): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
  writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}-ca.pem`, '-CAkey', `${ca}-ca.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
}

interface Answer {
  status: number;
  body: string;
}

function request(url: string, o: { method?: string; body?: string; ca?: Buffer | null; cert?: { cert: Buffer; key: Buffer } } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: o.method ?? 'GET',
        ...(o.ca === null ? {} : { ca: o.ca ?? ca }),
        ...(o.cert ? { cert: o.cert.cert, key: o.cert.key } : {}),
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(o.body);
  });
}

async function status(n: ProcNode): Promise<{ role: string; leaderId: string | null; appliedIndex: number } | null> {
  try {
    const r = await request(`${n.client}/admin/status`);
    return r.status === 200 ? (JSON.parse(r.body) as { role: string; leaderId: string | null; appliedIndex: number }) : null;
  } catch {
    return null;
  }
}

beforeAll(async () => {
  cluster = new ProcessCluster();
  dir = cluster.root;
  makeCa('good');
  makeCert('good', 'node');
  makeCa('rogue');
  makeCert('rogue', 'intruder');
  ca = readFileSync(join(dir, 'good-ca.pem'));
  peerCert = { cert: readFileSync(join(dir, 'node.pem')), key: readFileSync(join(dir, 'node.key')) };
  rogueCert = { cert: readFileSync(join(dir, 'intruder.pem')), key: readFileSync(join(dir, 'intruder.key')) };

  nodes = await cluster.define(['a', 'b', 'c']);
  for (const n of nodes) {
    n.client = n.client.replace('http:', 'https:');
    n.peerURL = n.peerURL.replace('http:', 'https:');
  }
  const initial = nodes.map((n) => `${n.id}=${n.peerURL}`).join(',');
  const files = (f: string) => join(dir, f);
  for (const n of nodes) {
    n.extraArgs = [
      '--initial-cluster', initial,
      '--tls-cert-file', files('node.pem'), '--tls-key-file', files('node.key'),
      '--peer-tls-cert-file', files('node.pem'), '--peer-tls-key-file', files('node.key'),
      '--tls-ca-file', files('good-ca.pem'), '--peer-client-cert-auth',
    ];
    cluster.start(n.id);
  }
  await waitFor('a leader over TLS', async () => {
    const all = await Promise.all(nodes.map(status));
    const leader = all.find((s) => s?.role === 'leader');
    return leader && all.every((s) => s?.leaderId === leader.leaderId) ? leader : null;
  }, 20_000);
});

afterAll(async () => {
  await cluster.destroy();
});

describe('TLS on the client and peer ports', () => {
  it('replicates and forwards over TLS: a write through each node is readable from every node', async () => {
    for (const [i, n] of nodes.entries()) {
      const w = await request(`${n.client}/v1/kv/tls/from-${n.id}`, { method: 'PUT', body: `v${i}` });
      expect(w.status, w.body).toBe(201);
    }
    for (const n of nodes) {
      for (const [i, m] of nodes.entries()) {
        const r = await request(`${n.client}/v1/kv/tls/from-${m.id}`);
        expect(r).toEqual({ status: 200, body: `v${i}` });
      }
    }
  });

  it('the client port refuses plain HTTP and is not trusted without the CA', async () => {
    const plain = nodes[0]!.client.replace('https:', 'http:');
    const answer = await fetch(`${plain}/healthz`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => `status ${r.status}`,
      (err: Error) => `error ${err.message}`,
    );
    expect(answer).not.toBe('status 200');
    await expect(request(`${nodes[0]!.client}/healthz`, { ca: null })).rejects.toThrow(/self-signed|unable to verify|certificate/i);
  });

  it('the peer port requires a client certificate from the cluster CA', async () => {
    const peer = nodes[0]!.peerURL;
    // No client certificate, or one from another CA: the TLS handshake fails.
    await expect(request(`${peer}/raft/vote`, { method: 'POST', body: 'x' })).rejects.toThrow();
    await expect(request(`${peer}/raft/vote`, { method: 'POST', body: 'x', cert: rogueCert })).rejects.toThrow();
    // The cluster's certificate gets through to the peer API (which refuses the garbage frame).
    const ok = await request(`${peer}/raft/vote`, { method: 'POST', body: 'x', cert: peerCert });
    expect(ok.status).toBe(400);
    expect(JSON.parse(ok.body).error.code).toBe('bad_frame');
  });

  it('a restarted node catches up over TLS', async () => {
    const victim = nodes[2]!;
    await cluster.kill(victim.id);
    const leader = nodes[0]!;
    for (let i = 0; i < 20; i++) {
      // 503 (an election after the kill) means not applied: retry like a client.
      const w = await waitFor('a write', async () => {
        const r = await request(`${leader.client}/v1/kv/tls/while-down-${i}`, { method: 'PUT', body: `d${i}` });
        return r.status === 503 ? null : r;
      }, 15_000, 100);
      expect(w.status).toBe(201);
    }
    cluster.start(victim.id);
    await waitFor('the restarted node to catch up', async () => (await request(`${victim.client}/v1/kv/tls/while-down-19?consistency=serializable`).catch(() => null))?.body === 'd19', 20_000);
    expect(await cluster.logs(victim.id)).toContain('TLS is on');
  });
});
