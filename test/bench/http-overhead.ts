// How much does the client HTTP layer cost per request, without Raft or disk? The real client app
// (express, request context, routing, forwarding check, audit) over a node whose proposals apply
// at once, next to a bare node:http server doing the same store work. Not a test; run with
//   node dist/test/bench/http-overhead.js [seconds] [concurrency]
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClientServerApp } from '../../node/src/server/http/app.js';
import type { ConfluxNodeApi } from '../../node/src/server/node-api.js';
import { encodeCommand, KvStore, WatchHub, type Command, type CommandResult } from '../../node/src/store/index.js';
import { runLoad } from './lib/loadgen.js';
import { keyName, nextUnique, ValueMaker } from './lib/values.js';

const seconds = Number(process.argv[2] ?? 3);
const concurrency = Number(process.argv[3] ?? 64);

function instantNode(): ConfluxNodeApi {
  const store = new KvStore();
  const watches = new WatchHub(store);
  let index = 0;
  const node = {
    id: 'n1',
    store,
    watches,
    async propose(command: Command): Promise<CommandResult> {
      index++;
      return store.apply([{ index, term: 1, kind: 'normal', data: encodeCommand(command) }])[0] as CommandResult;
    },
    async readBarrier(): Promise<void> {},
    isLeader: () => true,
    leaderClientURL: () => null,
    waitForLeader: async () => 'n1',
  };
  return node as unknown as ConfluxNodeApi;
}

async function listen(listener: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer({ keepAliveTimeout: 65_000 }, listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined, isLevelEnabled: () => false };

async function measure(name: string, port: number, method: 'PUT' | 'GET'): Promise<void> {
  const values = new ValueMaker(256);
  let i = 0;
  const r = await runLoad({
    concurrency,
    warmupMs: 1000,
    durationMs: seconds * 1000,
    serverPids: [],
    next: () => {
      const key = keyName('bench/', (i++ * 7919) % 1000);
      return method === 'PUT'
        ? { target: { host: '127.0.0.1', port }, method, path: `/v1/kv/${key}`, headers: { 'content-type': 'application/octet-stream' }, body: values.bytes(nextUnique()) }
        : { target: { host: '127.0.0.1', port }, method, path: `/v1/kv/${key}`, headers: {} };
    },
  });
  console.log(`${name.padEnd(28)} ${method} ${r.throughput.toFixed(0).padStart(7)}/s p50 ${r.latency.p50Ms.toFixed(2)} ms (one process: server + client cpu ${r.clientCpuCores.toFixed(2)} cores), errors ${r.errors}`);
}

async function main(): Promise<void> {
  const app = createClientServerApp({ node: instantNode(), logger: quiet });
  const a = await listen(app.app);
  const bareNode = instantNode();
  const b = await listen((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const key = decodeURIComponent((req.url ?? '').slice('/v1/kv/'.length));
      if (req.method === 'PUT') {
        void bareNode.propose({ type: 'put', key, value: Buffer.concat(parts), contentType: 'application/octet-stream' }).then((r) => {
          const body = JSON.stringify(r);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
      } else {
        const kv = bareNode.store.get(key);
        res.writeHead(kv ? 200 : 404, { 'content-type': 'application/octet-stream' });
        res.end(kv?.value);
      }
    });
  });
  const express = (await import('express')).default;
  const ex = express();
  const exNode = instantNode();
  ex.use((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const key = decodeURIComponent(req.path.slice('/v1/kv/'.length));
      if (req.method === 'PUT') {
        void exNode.propose({ type: 'put', key, value: Buffer.concat(parts), contentType: 'application/octet-stream' }).then((r) => {
          const body = JSON.stringify(r);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
      } else {
        const kv = exNode.store.get(key);
        res.writeHead(kv ? 200 : 404, { 'content-type': 'application/octet-stream' });
        res.end(kv?.value);
      }
    });
  });
  const e = await listen(ex);
  const protoNode = instantNode();
  const p = await listen((req, res) => {
    Object.setPrototypeOf(req, ex.request);
    Object.setPrototypeOf(res, ex.response);
    (req as unknown as { res: unknown }).res = res;
    (res as unknown as { req: unknown }).req = req;
    const xreq = req as unknown as import('express').Request;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const key = decodeURIComponent(xreq.path.slice('/v1/kv/'.length));
      void xreq.get('content-type');
      if (req.method === 'PUT') {
        void protoNode.propose({ type: 'put', key, value: Buffer.concat(parts), contentType: 'application/octet-stream' }).then((r) => {
          const body = JSON.stringify(r);
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
      } else {
        const kv = protoNode.store.get(key);
        res.writeHead(kv ? 200 : 404, { 'content-type': 'application/octet-stream' });
        res.end(kv?.value);
      }
    });
  });
  for (let round = 0; round < Number(process.argv[4] ?? 1); round++) {
    for (const method of ['PUT', 'GET'] as const) {
      await measure('client app (express)', a.port, method);
      await measure('express, first middleware', e.port, method);
      await measure('bare + express prototypes', p.port, method);
      await measure('bare node:http', b.port, method);
    }
  }
  e.server.close();
  e.server.closeAllConnections();
  app.close();
  a.server.close();
  b.server.close();
  a.server.closeAllConnections();
  b.server.closeAllConnections();
}

void main();
