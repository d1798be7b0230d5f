import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ChunkedDecoder, encodeRequest, HttpParseError, openRawStream, RawConnection, ResponseParser } from '../bench/lib/raw-http.js';

const target = { host: '127.0.0.1', port: 8080 };

describe('encodeRequest', () => {
  it('writes the request line, Host, the headers and Content-Length, then the body', () => {
    const b = encodeRequest({ target, method: 'PUT', path: '/v1/kv/a', headers: { 'content-type': 'text/plain', 'content-length': 99 }, body: 'héllo' });
    expect(b.toString('utf8')).toBe('PUT /v1/kv/a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\ncontent-type: text/plain\r\nContent-Length: 6\r\n\r\nhéllo');
  });
  it('sends no Content-Length on a GET without body', () => {
    expect(encodeRequest({ target, method: 'GET', path: '/x', headers: {} }).toString()).toBe('GET /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n');
  });
});

describe('ResponseParser', () => {
  const fixed = 'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}';
  const chunked = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n';

  it('parses a response cut at every byte, and two in one chunk', () => {
    for (const text of [fixed, chunked]) {
      const whole = Buffer.from(text + text);
      for (let cut = 1; cut < whole.length; cut++) {
        const p = new ResponseParser();
        const got = [...p.push(whole.subarray(0, cut)), ...p.push(whole.subarray(cut))];
        expect(got.map((g) => [g.res.status, g.res.body.toString()])).toEqual(
          text === fixed ? [[201, '{"a":1}'], [201, '{"a":1}']] : [[200, 'abcdefg'], [200, 'abcdefg']],
        );
      }
    }
  });

  it('has no body for 204 and for HEAD, and reports Connection: close', () => {
    const p = new ResponseParser();
    expect(p.push(Buffer.from('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'))).toEqual([{ res: { status: 204, body: Buffer.alloc(0) }, close: true }]);
    p.headRequest = true;
    expect(p.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'))[0]!.res.body.length).toBe(0);
  });

  it('refuses what it cannot delimit', () => {
    expect(() => new ResponseParser().push(Buffer.from('garbage\r\n\r\n'))).toThrow(HttpParseError);
    expect(() => new ResponseParser().push(Buffer.from('HTTP/1.1 200 OK\r\n\r\nrest'))).toThrow(HttpParseError);
  });
});

describe('RawConnection', () => {
  it('keeps one connection for many requests against node:http, and reconnects after a close', async () => {
    const seen: string[] = [];
    const sockets = new Set<unknown>();
    const server = http.createServer((req, res) => {
      sockets.add(req.socket);
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${Buffer.concat(parts).toString()}`);
        if (req.url === '/close') res.setHeader('Connection', 'close');
        res.end(`ok ${seen.length}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const t = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
    const c = new RawConnection(t);
    try {
      for (let i = 0; i < 5; i++) {
        const r = await c.request({ target: t, method: 'PUT', path: `/k${i}`, headers: {}, body: `v${i}` }, 2000);
        expect([r.status, r.body.toString()]).toEqual([200, `ok ${i + 1}`]);
      }
      expect(sockets.size).toBe(1);
      expect((await c.request({ target: t, method: 'GET', path: '/close', headers: {} }, 2000)).status).toBe(200);
      expect((await c.request({ target: t, method: 'GET', path: '/again', headers: {} }, 2000)).body.toString()).toBe('ok 7');
      expect(sockets.size).toBe(2);
      expect(seen[0]).toBe('PUT /k0 v0');
    } finally {
      c.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('ChunkedDecoder', () => {
  it('passes on the data of every chunk, cut at every byte', () => {
    const wire = Buffer.from('3\r\nabc\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n');
    for (let cut = 1; cut < wire.length; cut++) {
      const d = new ChunkedDecoder();
      const got = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))];
      expect(Buffer.concat(got).toString()).toBe('abcabcdefghijklmnopqrstuvwxyz');
      expect(d.ended).toBe(true);
    }
  });

  it('refuses a bad size line', () => {
    expect(() => new ChunkedDecoder().push(Buffer.from('zz\r\n'))).toThrow(HttpParseError);
  });
});

describe('openRawStream', () => {
  it('gives the status, then the de-chunked body as node:http streams it', async () => {
    let push: ((s: string) => void) | null = null;
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
      push = (s) => res.write(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const t = { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
    const got: string[] = [];
    const s = await openRawStream({ target: t, method: 'GET', path: '/watch', headers: { accept: 'text/event-stream' } }, (b) => got.push(b.toString()), 2000);
    try {
      expect(s.status).toBe(200);
      for (let i = 0; i < 50 && push === null; i++) await new Promise((r) => setTimeout(r, 10));
      push!('id: 1\n\n');
      push!('id: 2\n\n');
      for (let i = 0; i < 100 && got.join('') !== 'id: 1\n\nid: 2\n\n'; i++) await new Promise((r) => setTimeout(r, 10));
      expect(got.join('')).toBe('id: 1\n\nid: 2\n\n');
    } finally {
      s.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
