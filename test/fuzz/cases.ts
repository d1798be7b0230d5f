// Seeded generators of hostile requests for the client, admin and peer APIs. Every case is invalid
// by construction (a generator never emits a request the node should carry out), so the oracle is
// simple: a 4xx with the JSON error shape, or for a request cut short, no answer at all; never a
// 5xx, never a crash, never a change of data or term.
import type { Rng } from '../../node/src/raft/rng.js';
import { encodeMessages } from '../../node/src/server/peer-codec.js';
import { encodeSnapshotChunk } from '../../node/src/server/snapshot-chunk.js';
import type { Message } from '../../node/src/raft/types.js';
import { buildRequest, type RawOptions } from './raw-http.js';

export type Api = 'client' | 'admin' | 'peer';

export interface FuzzCase {
  api: Api;
  name: string;
  bytes: Buffer;
  options?: Partial<RawOptions>;
  /**
   * 'error': must be a 4xx with the JSON shape. 'cut': the request is incomplete; no answer, or a
   * 4xx. 'stream': POST /raft/stream answers 200 and then one JSON line (a 4xx status and the error
   * shape) per refused frame or message.
   */
  expect: 'error' | 'cut' | 'stream';
}

export interface FuzzTarget {
  nodeId: string;
  clusterId: string;
  incarnation: string;
  term: number;
  maxValueBytes: number;
  /** A key that exists (for If-Match, revision and rollback cases). */
  existingKey: string;
}

const pick = <T>(rng: Rng, list: readonly T[]): T => list[rng.int(0, list.length)]!;
const junk = (rng: Rng, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rng.int(0, 256)));
const asciiJunk = (rng: Rng, n: number): string => Array.from({ length: n }, () => String.fromCharCode(rng.int(0x21, 0x7f))).join('');

/** Key parts that make any key invalid (as raw request-target bytes). */
function invalidKeyTarget(rng: Rng): Buffer {
  const valid = () => pick(rng, ['app', 'acme/checkout', 'a', 'x/y/z', 'k%C3%A9']);
  const bad = pick(rng, [
    'a//b', '/lead', 'trail/', 'a/./b', 'a/../b', '..', '.', '%2e%2e/x', 'x/%2E', '%00', 'a%00b', '%FF', '%C3%28', '%ED%A0%80',
    '%E2%82', '%F0%9F%98', '%', '%zz', '%4', 'a%2F%2Fb', '%2F', 'k'.repeat(1025), 'é'.repeat(600),
  ]);
  const raw = pick(rng, [`${valid()}/${bad}`, bad, `${bad}/${valid()}`]);
  return Buffer.from(raw, bad === 'é'.repeat(600) ? 'utf8' : 'latin1');
}

/** Never a positive integer, as a query value (spaces make the request line itself invalid). */
// ('1 ' is not here: Node's parser takes `?x=1  HTTP/1.1` as x=1, which is valid.)
const badInts = ['-1', '0', 'abc', '1e3', '1.5', '', '0x10', '9'.repeat(17), '+1', ' 1', '%EF%BC%91', '%00', 'NaN', 'Infinity', '-0'];
/** Never a revision, as a Last-Event-ID header value (surrounding white space is trimmed there). */
const badEventIds = ['-1', 'abc', '1e3', '1.5', '0x10', '9'.repeat(17), '+1', 'NaN', 'Infinity', '１', '1,2', '-0'];

export function clientCases(rng: Rng, t: FuzzTarget, n: number): FuzzCase[] {
  const out: FuzzCase[] = [];
  const gens: Array<() => FuzzCase> = [
    () => {
      const method = pick(rng, ['GET', 'PUT', 'DELETE', 'GET:history', 'POST:rollback']);
      const [verb, route] = method.includes(':') ? method.split(':') as [string, string] : [method, 'kv'];
      const base = route === 'history' ? '/v1/history/' : route === 'rollback' ? '/v1/rollback/' : '/v1/kv/';
      const q = route === 'rollback' ? '?toRevision=1' : '';
      const target = Buffer.concat([Buffer.from(base), invalidKeyTarget(rng), Buffer.from(q)]);
      return { api: 'client', name: `${verb} ${base}<invalid key>`, bytes: buildRequest(verb, target, [], verb === 'PUT' ? Buffer.from('v') : undefined), expect: 'error' };
    },
    () => {
      // Raw bytes above 0x7f (invalid UTF-8, or UTF-8 sent unescaped) in a key.
      const bytes = pick(rng, [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc3, 0xa9], [0xe2, 0x82], [0x80]]);
      const method = pick(rng, ['GET', 'PUT', 'DELETE']);
      const target = Buffer.concat([Buffer.from('/v1/kv/fuzz/raw-'), Buffer.from(bytes)]);
      return { api: 'client', name: `${method} key with raw bytes ${bytes.map((b) => b.toString(16)).join(' ')}`, bytes: buildRequest(method, target, [], method === 'PUT' ? Buffer.from('v') : undefined), expect: 'error' };
    },
    () => {
      const param = pick(rng, ['revision', 'consistency']);
      const v = param === 'revision' ? pick(rng, [...badInts, String(2 ** 53 + 2), '999999999999999']) : pick(rng, ['eventual', 'LINEARIZABLE', '', 'x'.repeat(100)]);
      // History takes no revision (an unknown parameter is ignored, like everywhere else).
      const path = param === 'revision' ? '/v1/kv/' : pick(rng, ['/v1/kv/', '/v1/history/']);
      return { api: 'client', name: `GET ${path}?${param}=${v.slice(0, 20)}`, bytes: buildRequest('GET', `${path}${t.existingKey}?${param}=${v}`), expect: 'error' };
    },
    () => {
      const [param, v] = pick(rng, [
        ['limit', pick(rng, badInts)],
        // Undecodable escapes in a query value are kept as typed (the query parser's choice): a
        // prefix `%FF` is the three characters, valid. NUL never is.
        ['prefix', pick(rng, ['%00', 'a%00b'])],
        ['after', pick(rng, ['%00', 'x%00'])],
        ['keysOnly', pick(rng, ['maybe', '2', 'yes'])],
        ['consistency', 'eventual'],
        ['limit', '1&limit=2'],
      ] as const);
      return { api: 'client', name: `GET /v1/kv?${param}=${v}`, bytes: buildRequest('GET', `/v1/kv?${param}=${v}`), expect: 'error' };
    },
    () => {
      const viaHeader = rng.next() < 0.5;
      const v = viaHeader ? pick(rng, badEventIds) : pick(rng, badInts);
      const bytes = viaHeader
        ? buildRequest('GET', '/v1/watch?prefix=fuzz/', [['Last-Event-ID', Buffer.from(v, 'utf8')]])
        : buildRequest('GET', `/v1/watch?prefix=fuzz/&fromRevision=${v}`);
      return { api: 'client', name: `watch with bad ${viaHeader ? 'Last-Event-ID' : 'fromRevision'} ${v}`, bytes, expect: 'error' };
    },
    () => {
      const header = rng.next() < 0.7 ? 'If-Match' : 'If-None-Match';
      const v = header === 'If-Match' ? pick(rng, ['abc', '"-1"', '*', 'W/"1"', '"1", "2"', '"0"', '""', '"1.5"', `"${'9'.repeat(17)}"`]) : pick(rng, ['"1"', 'x', '**', '"*"']);
      const method = pick(rng, ['PUT', 'DELETE', 'POST']);
      const target = method === 'POST' ? `/v1/rollback/${t.existingKey}?toRevision=1` : `/v1/kv/${t.existingKey}`;
      const expectError = !(method === 'POST' && header === 'If-None-Match');
      // A rollback ignores If-None-Match; give it a bad toRevision too so that it is refused.
      const fixed = expectError ? target : `/v1/rollback/${t.existingKey}?toRevision=abc`;
      return { api: 'client', name: `${method} with ${header}: ${v}`, bytes: buildRequest(method, fixed, [[header, v]], method === 'PUT' ? Buffer.from('new') : undefined), expect: 'error' };
    },
    () => {
      const v = pick(rng, badInts);
      return { api: 'client', name: `POST rollback toRevision=${v}`, bytes: buildRequest('POST', `/v1/rollback/${t.existingKey}?toRevision=${v}`), expect: 'error' };
    },
    () => {
      const size = t.maxValueBytes + 1 + rng.int(0, t.maxValueBytes * 2);
      return { api: 'client', name: `PUT value of ${size} bytes (limit ${t.maxValueBytes})`, bytes: buildRequest('PUT', `/v1/kv/fuzz/big`, [], Buffer.alloc(size, 0x61)), expect: 'error' };
    },
    () => {
      const declared = pick(rng, ['99999999999', String(t.maxValueBytes + 1), '1e9', '-1', '12abc']);
      return { api: 'client', name: `PUT declaring Content-Length ${declared}`, bytes: buildRequest('PUT', '/v1/kv/fuzz/liar', [['Content-Length', declared]], Buffer.from('x')), expect: 'error' };
    },
    () => {
      const ct = pick(rng, [Buffer.from([0x74, 0x65, 0x78, 0x74, 0xff]), Buffer.from('x'.repeat(300)), Buffer.from('text/\u00e9', 'latin1'), Buffer.from([0x01])]);
      return { api: 'client', name: 'PUT with an invalid Content-Type', bytes: buildRequest('PUT', '/v1/kv/fuzz/ct', [['Content-Type', ct]], Buffer.from('v')), expect: 'error' };
    },
    () => {
      const enc = pick(rng, ['gzip', 'br', 'deflate, gzip', 'x-unknown']);
      return { api: 'client', name: `PUT with Content-Encoding ${enc}`, bytes: buildRequest('PUT', '/v1/kv/fuzz/enc', [['Content-Encoding', enc]], Buffer.from('v')), expect: 'error' };
    },
    () => {
      const size = rng.int(20_000, 200_000);
      const where = pick(rng, ['header', 'url', 'many']);
      let bytes: Buffer;
      if (where === 'header') bytes = buildRequest('GET', `/v1/kv/${t.existingKey}`, [['X-Fuzz', 'h'.repeat(size)]]);
      else if (where === 'url') bytes = buildRequest('GET', `/v1/kv/${'u'.repeat(size)}`);
      else bytes = buildRequest('GET', `/v1/kv/${t.existingKey}`, Array.from({ length: Math.floor(size / 40) }, (_, i) => [`X-Fuzz-${i}`, 'v'.repeat(30)] as [string, string]));
      return { api: 'client', name: `huge ${where} (${size} bytes)`, bytes, expect: 'error' };
    },
    () => {
      const kind = pick(rng, ['garbage', 'version', 'method', 'te-cl', 'bad-chunk', 'no-host', 'bare-lf', 'space-before-colon']);
      let bytes: Buffer;
      switch (kind) {
        case 'garbage':
          bytes = junk(rng, rng.int(1, 300));
          if (bytes[0]! >= 0x41 && bytes[0]! <= 0x5a) bytes[0] = 0x01; // never a method by chance
          bytes = Buffer.concat([bytes, Buffer.from('\r\n\r\n')]);
          break;
        case 'version':
          bytes = Buffer.from(`GET /v1/kv/a HTTP/${pick(rng, ['9.9', '1.x', '0', '2.0', '1.1.1'])}\r\nHost: x\r\n\r\n`);
          break;
        case 'method':
          bytes = buildRequest(pick(rng, ['FOO', 'G ET', 'GET\u0001', 'B@D']), `/v1/kv/${t.existingKey}`);
          break;
        case 'te-cl':
          bytes = buildRequest('PUT', '/v1/kv/fuzz/smuggle', [['Transfer-Encoding', 'chunked'], ['Content-Length', '5']], Buffer.from('0\r\n\r\n'));
          break;
        case 'bad-chunk':
          bytes = buildRequest('PUT', '/v1/kv/fuzz/chunk', [['Transfer-Encoding', 'chunked']], Buffer.from(`${pick(rng, ['zz', '-1', 'fffffffffffffffff'])}\r\nabc\r\n0\r\n\r\n`));
          // The headers were fine, so the handler owns the response when the body breaks: Node
          // can only close the connection (see client-errors.ts). No answer is acceptable here.
          return { api: 'client', name: 'malformed HTTP (bad chunk size)', bytes, expect: 'cut' };
        case 'no-host':
          bytes = Buffer.from(`GET /v1/kv/${t.existingKey} HTTP/1.1\r\nConnection: close\r\n\r\n`);
          break;
        case 'bare-lf':
          bytes = Buffer.from(`PUT /v1/kv/fuzz/lf HTTP/1.1\nHost: x\nContent-Length: 1\n\nx`);
          break;
        default:
          bytes = Buffer.from(`PUT /v1/kv/fuzz/sp HTTP/1.1\r\nHost: x\r\nContent-Length : 1\r\nConnection: close\r\n\r\nx`);
      }
      return { api: 'client', name: `malformed HTTP (${kind})`, bytes, expect: 'error' };
    },
    () => {
      const [method, path] = pick(rng, [
        ['PATCH', `/v1/kv/${t.existingKey}`], ['POST', `/v1/kv/${t.existingKey}`], ['DELETE', '/v1/kv'], ['PUT', '/v1/watch'],
        ['GET', '/v1/rollback/a'], ['GET', `/v2/kv/${asciiJunk(rng, 5)}`], ['GET', '/'], ['GET', '/v1/kvx'], ['OPTIONS', '/v1/kv/a'],
        ['GET', '/v1/watch/extra'], ['TRACE', '/v1/kv/a'],
      ] as const);
      return { api: 'client', name: `${method} ${path}`, bytes: buildRequest(method, path.replace(/[^\x21-\x7e]/g, 'x')), expect: 'error' };
    },
  ];
  for (let i = 0; i < n; i++) out.push(pick(rng, gens)());
  return out;
}

export function adminCases(rng: Rng, t: FuzzTarget, n: number): FuzzCase[] {
  const json = (method: string, path: string, body: string | Buffer, ct = 'application/json'): Buffer =>
    buildRequest(method, path, [['Content-Type', ct]], Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'));
  const gens: Array<() => FuzzCase> = [
    () => {
      const body = pick(rng, [
        '{', '[]', 'null', '"x"', '42', '{"id":5,"peerURL":"http://a:1","clientURL":"http://b:2"}', '{"id":"x","peerURL":5,"clientURL":"http://b:2"}',
        '{"id":"ok","peerURL":"ftp://x/","clientURL":"http://y:1"}', '{"id":"x","peerURL":"http://a:1","clientURL":"http://b:2","extra":1}',
        '{"id":"has space","peerURL":"http://a:1","clientURL":"http://b:2"}', '{"id":"x","peerURL":"http://u:p@a:1","clientURL":"http://b:2"}',
        '{"id":"x","peerURL":"http://a:1","clientURL":"http://b:2","incarnation":"bad inc!"}', '{"id":"x","peerURL":"http://a:1"}',
        '{"id":"' + 'n'.repeat(64) + '","peerURL":"http://a:1","clientURL":"http://b:2"}', '{"__proto__":{"id":"x"}}', '{"id":"x","peerURL":"http://a:1?q=1","clientURL":"http://b:2"}',
        asciiJunk(rng, rng.int(1, 200)), '\uFEFF{}', '{"id":"x","peerURL":"' + 'h'.repeat(3000) + '","clientURL":"http://b:2"}',
      ]);
      return { api: 'admin', name: `POST /admin/members ${body.slice(0, 40)}`, bytes: json('POST', '/admin/members', body), expect: 'error' };
    },
    () => {
      const depth = rng.int(5_000, 30_000);
      const body = rng.next() < 0.5 ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
      return { api: 'admin', name: `POST /admin/members nested ${depth} deep`, bytes: json('POST', '/admin/members', body), expect: 'error' };
    },
    () => {
      const size = 64 * 1024 + 1 + rng.int(0, 100_000);
      return { api: 'admin', name: `POST /admin/members body of ${size} bytes`, bytes: json('POST', '/admin/members', `{"id":"${'x'.repeat(size)}"}`), expect: 'error' };
    },
    () => {
      const body = pick(rng, ['{"to":5}', '{"to":"bad id!"}', '{"x":1}', '[1]', '{"to":"nobody-here"}', '{"to":{}}', '{']);
      return { api: 'admin', name: `POST /admin/leader/transfer ${body}`, bytes: json('POST', '/admin/leader/transfer', body), expect: 'error' };
    },
    () => {
      const id = pick(rng, ['bad id', 'a/b', 'n'.repeat(64), '%00', '%FF', '..', 'nobody-here']);
      const [method, path] = pick(rng, [['DELETE', `/admin/members/${id}`], ['POST', `/admin/members/${id}/promote`]] as const);
      return { api: 'admin', name: `${method} ${path}`, bytes: buildRequest(method, path.replace(/ /g, '%20')), expect: 'error' };
    },
    () => ({ api: 'admin', name: 'POST /admin/bootstrap on a running cluster', bytes: buildRequest('POST', '/admin/bootstrap'), expect: 'error' }),
    () => {
      const [method, path] = pick(rng, [['PUT', '/admin/status'], ['DELETE', '/admin/members'], ['PUT', '/admin/snapshot'], ['GET', '/admin/leader/transfer'], ['GET', '/admin/nothing']] as const);
      return { api: 'admin', name: `${method} ${path}`, bytes: buildRequest(method, path), expect: 'error' };
    },
    () => {
      const ct = pick(rng, ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']);
      return { api: 'admin', name: `POST /admin/members as ${ct}`, bytes: json('POST', '/admin/members', 'id=x&peerURL=http://a:1', ct), expect: 'error' };
    },
  ];
  return Array.from({ length: n }, () => pick(rng, gens)());
}

export function peerCases(rng: Rng, t: FuzzTarget, n: number): FuzzCase[] {
  const paths = ['/raft/append_entries', '/raft/vote', '/raft/install_snapshot', '/raft/timeout_now'];
  const post = (path: string, body: Buffer, headers: [string, string][] = []) => buildRequest('POST', path, [['Content-Type', 'application/x-conflux-raft'], ...headers], body);
  const base = (over: Record<string, unknown> = {}) => ({
    clusterId: t.clusterId,
    from: 'fuzzer',
    fromIncarnation: 'fuzz-inc',
    to: t.nodeId,
    toIncarnation: '',
    term: t.term + 1000,
    ...over,
  });
  // Well-formed messages that must be refused for who they are (another cluster, another
  // incarnation, another node), with a term far above the node's.
  const foreign = (): Record<string, unknown> =>
    pick(rng, [{ clusterId: 'another-cluster' }, { toIncarnation: 'not-this-directory' }, { to: 'someone-else' }, { clusterId: '' }]);
  const shapes = (): Record<string, unknown> =>
    pick(rng, [
      { type: 'heartbeat', commit: 0, readSeq: 0 },
      { type: 'vote', preVote: false, transfer: false, lastLogIndex: 10 ** 9, lastLogTerm: 10 ** 9 },
      { type: 'append', prevIndex: 0, prevTerm: 0, commit: 0, entries: [] },
      { type: 'timeout_now' },
      { type: 'append_resp', success: true, matchIndex: 10 ** 9, rejectHint: null },
    ]);
  // The right cluster and incarnation, but each with a field no valid message has.
  const broken = (): Record<string, unknown> =>
    pick(rng, [
      { type: 'heartbeat', commit: -1, readSeq: 0 },
      { type: 'heartbeat', commit: 0, readSeq: 'x' },
      { type: 'heartbeat', commit: 0, readSeq: 0, term: -5 },
      { type: 'heartbeat', commit: 0, readSeq: 0, term: 1.5 },
      { type: 'heartbeat', commit: 0, readSeq: 0, term: 1e300 },
      { type: 'heartbeat', commit: 0, readSeq: 0, term: '99999' },
      { type: 'heartbeat', commit: 0, readSeq: 0, from: '' },
      { type: 'heartbeat', commit: 0, readSeq: 0, from: 7 },
      { type: 'heartbeat', commit: 0, readSeq: 0, clusterId: null },
      { type: 'vote', preVote: 'yes', transfer: false, lastLogIndex: 1, lastLogTerm: 1 },
      { type: 'vote', preVote: false, transfer: false, lastLogIndex: -1, lastLogTerm: 1 },
      { type: 'append', prevIndex: 0, prevTerm: 0, commit: 0, entries: 'none' },
      { type: 'append', prevIndex: 'x', prevTerm: 0, commit: 0, entries: [] },
      { type: 'bogus' },
      { type: 'snapshot', meta: null },
      { type: 'snapshot', meta: { index: 'x', term: 1, membership: { members: [] } } },
      { type: 'append_resp', success: 1, matchIndex: 0, rejectHint: null },
      { type: 'append_resp', success: false, matchIndex: 0, rejectHint: { index: -1, term: 0 } },
    ]);
  // The frame layout (u32be length, JSON header), written directly so that fields of any type go
  // out as given; these messages carry no entry payloads.
  const frame = (messages: unknown[]): Buffer => {
    const header = Buffer.from(JSON.stringify({ v: 1, messages }), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(header.length, 0);
    return Buffer.concat([len, header]);
  };
  const gens: Array<() => FuzzCase> = [
    () => ({ api: 'peer', name: 'garbage frame', bytes: post(pick(rng, paths), junk(rng, rng.int(0, 2000))), expect: 'error' }),
    () => {
      const f = frame([{ ...base(foreign()), ...shapes() }]);
      const cut = rng.int(0, f.length);
      return { api: 'peer', name: `frame truncated at ${cut}/${f.length}`, bytes: post('/raft/append_entries', f.subarray(0, cut)), expect: 'error' };
    },
    () => {
      const header = Buffer.from(pick(rng, ['{"v":2,"messages":[]}', '{"v":1}', '{"v":1,"messages":{}}', '{"v":1,"messages":[null]}', '{"v":1,"messages":[1]}', '[]', 'null', '{"v":1,"messages":[{"type":"append","entries":[[1,1,9,0]]}]}', '{"v":1,"messages":[{"type":"append","entries":[[1,1,0,999999]]}]}', '{"v":1,"messages":[{"type":"append","entries":[[-1,1,0,0]]}]}']));
      const len = Buffer.alloc(4);
      len.writeUInt32BE(rng.next() < 0.8 ? header.length : rng.int(0, 2 ** 32), 0);
      const trailing = rng.next() < 0.3 ? junk(rng, rng.int(1, 50)) : Buffer.alloc(0);
      return { api: 'peer', name: `bad frame header ${header.toString().slice(0, 40)}`, bytes: post('/raft/append_entries', Buffer.concat([len, header, trailing])), expect: 'error' };
    },
    () => {
      const m: Record<string, unknown> = { ...base(), ...shapes(), ...foreign() };
      return { api: 'peer', name: `foreign ${String(m.type)} (${JSON.stringify(foreign()).slice(0, 30)})`, bytes: post(pathFor(String(m.type)), frame([m])), expect: 'error' };
    },
    () => {
      const b = broken();
      const m: Record<string, unknown> = { ...base(), ...b };
      return { api: 'peer', name: `malformed ${JSON.stringify(b).slice(0, 60)}`, bytes: post(pathFor(String(m.type)), frame([m])), expect: 'error' };
    },
    () => {
      // A well-formed message on the wrong endpoint, from this cluster.
      const m = { ...base(), type: 'vote', preVote: true, transfer: false, lastLogIndex: 0, lastLogTerm: 0 };
      return { api: 'peer', name: 'vote on /raft/append_entries', bytes: post('/raft/append_entries', frame([m])), expect: 'error' };
    },
    () => {
      const [method, path] = pick(rng, [['GET', '/raft/vote'], ['PUT', '/raft/append_entries'], ['POST', '/raft/nothing'], ['POST', '/'], ['GET', '/v1/kv/a']] as const);
      return { api: 'peer', name: `${method} ${path} on the peer port`, bytes: buildRequest(method, path), expect: 'error' };
    },
    () => {
      // The streaming path: several length-prefixed frames, every one of them refusable.
      const record = (frameBytes: Buffer): Buffer => {
        const len = Buffer.alloc(4);
        len.writeUInt32BE(frameBytes.length, 0);
        return Buffer.concat([len, frameBytes]);
      };
      const records: Buffer[] = [];
      const kinds: string[] = [];
      for (let k = rng.int(1, 6); k > 0; k--) {
        const kind = pick(rng, ['garbage', 'foreign', 'malformed', 'snapshot', 'bad-header']);
        kinds.push(kind);
        if (kind === 'garbage') records.push(record(junk(rng, rng.int(0, 300))));
        else if (kind === 'foreign') records.push(record(frame([{ ...base(), ...shapes(), ...foreign() }])));
        else if (kind === 'malformed') records.push(record(frame([{ ...base(), ...broken() }])));
        else if (kind === 'snapshot') records.push(record(frame([{ ...base(), type: 'snapshot', meta: { index: 10 ** 9, term: t.term + 1000, membership: { members: [] } } }])));
        else records.push(record(Buffer.from('\u0000\u0000\u0000\u0005{"v":')));
      }
      if (rng.next() < 0.2) {
        // A length over the frame limit ends the stream.
        const len = Buffer.alloc(4);
        len.writeUInt32BE(0xffffffff, 0);
        records.push(len);
        kinds.push('oversized');
      }
      return { api: 'peer', name: `stream of ${kinds.join(',')}`, bytes: post('/raft/stream', Buffer.concat(records)), expect: 'stream' };
    },
    () => ({ api: 'peer', name: 'peer body declared over the limit', bytes: buildRequest('POST', '/raft/append_entries', [['Content-Length', String(65 * 1024 * 1024)]], Buffer.from('x')), expect: 'error' }),
    () => {
      // install_snapshot chunks that must never become a snapshot: foreign, malformed, out of
      // order, or complete with a wrong checksum.
      const data = junk(rng, rng.int(0, 4096));
      const meta = { index: 10 ** 9, term: t.term + 1000, membership: { members: [{ id: 'fuzzer', incarnation: 'x', role: 'voter', peerURL: 'http://127.0.0.1:1', clientURL: 'http://127.0.0.1:2' }] } };
      const variant = pick(rng, ['foreign', 'bad-checksum', 'wrong-offset', 'missing-fields', 'bad-meta', 'size-lie', 'truncated']);
      const env = { ...base(), type: 'snapshot', meta };
      let body: Buffer;
      switch (variant) {
        case 'foreign':
          body = encodeSnapshotChunk({ ...env, ...foreign(), offset: 0, done: true, size: data.length, checksum: 1 } as never, data);
          break;
        case 'bad-checksum':
          body = encodeSnapshotChunk({ ...env, offset: 0, done: true, size: data.length, checksum: rng.int(0, 2 ** 31) } as never, data);
          break;
        case 'wrong-offset':
          body = encodeSnapshotChunk({ ...env, offset: rng.int(1, 10 ** 6), done: rng.next() < 0.5, size: 10 ** 6, checksum: 5 } as never, data);
          break;
        case 'missing-fields':
          body = encodeSnapshotChunk({ ...env, offset: -1, done: 'yes', size: 'big', checksum: 1.5 } as never, data);
          break;
        case 'bad-meta':
          body = encodeSnapshotChunk({ ...env, meta: pick(rng, [null, {}, { index: -1, term: 1, membership: { members: [] } }, { index: 1, term: 1, membership: 'x' }, 'meta']), offset: 0, done: rng.next() < 0.5, size: data.length, checksum: 1 } as never, data);
          break;
        case 'size-lie':
          body = encodeSnapshotChunk({ ...env, offset: 0, done: true, size: data.length + rng.int(1, 1000), checksum: 7 } as never, data);
          break;
        default: {
          // Cut inside the length prefix or the JSON header (a cut in the data is a shorter, valid
          // chunk; the slow cases cut bodies short of their Content-Length instead).
          const full = encodeSnapshotChunk({ ...env, offset: 0, done: false, size: data.length * 2, checksum: 3 } as never, data);
          body = full.subarray(0, rng.int(0, 4 + full.readUInt32BE(0)));
        }
      }
      return { api: 'peer', name: `install_snapshot chunk (${variant})`, bytes: post('/raft/install_snapshot', body), expect: variant === 'truncated' ? 'error' : 'error' };
    },
  ];
  return Array.from({ length: n }, () => pick(rng, gens)());
}

function pathFor(type: string): string {
  if (type === 'vote' || type === 'vote_resp') return '/raft/vote';
  if (type === 'timeout_now') return '/raft/timeout_now';
  if (type === 'snapshot') return '/raft/install_snapshot';
  return '/raft/append_entries';
}

/** Requests cut short or sent slowly (a client that stalls mid-request must cost nothing). */
export function slowCases(rng: Rng, t: FuzzTarget, n: number): FuzzCase[] {
  const gens: Array<() => FuzzCase> = [
    () => {
      const body = Buffer.from('partial-value-that-must-never-be-stored');
      const bytes = buildRequest('PUT', '/v1/kv/fuzz/partial', [['Content-Length', String(body.length + 50)]], body);
      return { api: 'client', name: 'PUT whose body never completes', bytes, expect: 'cut', options: { timeoutMs: 1500 } };
    },
    () => {
      const bytes = buildRequest('GET', `/v1/kv/${t.existingKey}`, [['X-Slow', 's'.repeat(200)]]);
      return { api: 'client', name: 'headers that stop halfway', bytes, expect: 'cut', options: { timeoutMs: 1500, truncateAt: rng.int(5, bytes.length - 4) } };
    },
    () => {
      const bytes = buildRequest('PUT', `/v1/kv/fuzz/slow`, [['If-Match', '"bogus"']], Buffer.from('slow-value'));
      return { api: 'client', name: 'a request trickled a few bytes at a time (invalid If-Match)', bytes, expect: 'error', options: { timeoutMs: 8000, pieces: { size: rng.int(1, 8), delayMs: 20 } } };
    },
    () => {
      const body = encodeMessages([{ type: 'heartbeat', commit: 0, readSeq: 0, clusterId: 'another-cluster', from: 'fuzzer', fromIncarnation: 'x', to: t.nodeId, toIncarnation: '', term: t.term + 1000 } as Message]);
      const bytes = buildRequest('POST', '/raft/append_entries', [['Content-Length', String(body.length + 100)]], body);
      return { api: 'peer', name: 'peer frame whose body never completes', bytes, expect: 'cut', options: { timeoutMs: 1500 } };
    },
    () => {
      const data = Buffer.alloc(1000, 7);
      const full = encodeSnapshotChunk({ clusterId: t.clusterId, from: 'fuzzer', fromIncarnation: 'x', to: t.nodeId, toIncarnation: '', term: t.term + 1000, type: 'snapshot', meta: { index: 10 ** 9, term: t.term + 1000, membership: { members: [] } }, offset: 0, done: false, size: 5000, checksum: 1 } as never, data);
      const bytes = buildRequest('POST', '/raft/install_snapshot', [['Content-Length', String(full.length)]], full);
      return { api: 'peer', name: 'install_snapshot chunk cut mid-body', bytes, expect: 'cut', options: { timeoutMs: 1500, truncateAt: bytes.length - rng.int(1, 900) } };
    },
  ];
  return Array.from({ length: n }, () => pick(rng, gens)());
}
