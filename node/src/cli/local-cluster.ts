#!/usr/bin/env node
// `make cluster`: three conflux-node processes on 127.0.0.1 with their data under a local folder,
// until Ctrl-C. For trying Conflux out; a real deployment runs one node per machine or pod.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const nodeBin = join(here, 'conflux-node.js');
const dataRoot = resolve(process.env.CONFLUX_LOCAL_DIR ?? '.local-cluster');
const basePort = Number(process.env.CONFLUX_LOCAL_BASE_PORT ?? 7070);
const ids = ['n1', 'n2', 'n3'];
const nodes = ids.map((id, i) => ({
  id,
  client: basePort + i * 100,
  peer: basePort + i * 100 + 1,
}));
const initialCluster = nodes.map((n) => `${n.id}=http://127.0.0.1:${n.peer}`).join(',');

const children: ChildProcess[] = [];
let stopping = false;

for (const n of nodes) {
  const dataDir = join(dataRoot, n.id);
  mkdirSync(dataDir, { recursive: true });
  const child = spawn(
    process.execPath,
    [
      nodeBin,
      '--id', n.id,
      '--data-dir', dataDir,
      '--listen-client', `127.0.0.1:${n.client}`,
      '--listen-peer', `127.0.0.1:${n.peer}`,
      '--initial-cluster', initialCluster,
      '--log-format', 'text',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[local-cluster] ${n.id} exited (${signal ?? code}); stopping the others`);
      stop(1);
    }
  });
  children.push(child);
}

const endpoints = nodes.map((n) => `http://127.0.0.1:${n.client}`).join(',');
console.log(`
Conflux local cluster: 3 nodes, data in ${dataRoot}
  client endpoints: ${endpoints}
  (no authentication: this is a development cluster)

Try, from another terminal:
  export CONFLUX_ENDPOINTS=${endpoints}
  echo 'replicas: 3' | npx conflux put acme/checkout/prod/app.yaml --content-type text/yaml
  npx conflux get acme/checkout/prod/app.yaml
  npx conflux watch acme/
  npx conflux members
  curl -s http://127.0.0.1:${nodes[0]!.client}/admin/status

Ctrl-C stops all three nodes (the data stays; run again to resume).
`);

function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const c of children) if (c.pid && c.exitCode === null) c.kill('SIGTERM');
  const force = setTimeout(() => {
    for (const c of children) if (c.pid && c.exitCode === null) c.kill('SIGKILL');
  }, 5000);
  force.unref();
  Promise.all(children.map((c) => (c.exitCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r))))).then(() => process.exit(code));
}

process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
