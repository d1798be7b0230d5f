import { describe, expect, it } from 'vitest';
import type { Message } from '../../node/src/raft/types.js';
import { decodeMessages, encodeMessages, PeerCodecError } from '../../node/src/server/peer-codec.js';
import { decodeSnapshotChunk, encodeSnapshotChunk } from '../../node/src/server/snapshot-chunk.js';
import { seededRng } from '../../node/src/raft/rng.js';

const env = { clusterId: 'c', from: 'a', fromIncarnation: 'ia', to: 'b', toIncarnation: 'ib', term: 3 };

describe('peer frames', () => {
  it('round-trips every message type, entries payloads byte for byte', () => {
    const messages: Message[] = [
      { ...env, type: 'append', prevIndex: 4, prevTerm: 2, commit: 4, entries: [
        { index: 5, term: 3, kind: 'normal', data: new Uint8Array([0, 1, 2, 255]) },
        { index: 6, term: 3, kind: 'blank', data: new Uint8Array() },
        { index: 7, term: 3, kind: 'config', data: new TextEncoder().encode('{"members":[]}') },
      ] },
      { ...env, type: 'append', prevIndex: 7, prevTerm: 3, commit: 7, entries: [], commitOnly: true },
      { ...env, type: 'append_resp', success: false, matchIndex: 4, rejectHint: { index: 3, term: 2 } },
      { ...env, type: 'heartbeat', commit: 3, readSeq: 9 },
      { ...env, type: 'heartbeat_resp', readSeq: 9 },
      { ...env, type: 'vote', preVote: true, transfer: false, lastLogIndex: 7, lastLogTerm: 3 },
      { ...env, type: 'vote_resp', preVote: true, granted: true },
      { ...env, type: 'timeout_now' },
    ];
    expect(decodeMessages(encodeMessages(messages))).toEqual(messages);
  });

  it('rejects truncated, foreign-version and garbage frames with a typed error, never a crash', () => {
    const good = encodeMessages([{ ...env, type: 'append', prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 3, kind: 'normal', data: new Uint8Array(10) }] }]);
    expect(() => decodeMessages(good.subarray(0, good.length - 1))).toThrow(PeerCodecError);
    expect(() => decodeMessages(Buffer.concat([good, Buffer.from([1])]))).toThrow(/trailing/);
    expect(() => decodeMessages(Buffer.from([0, 0]))).toThrow(PeerCodecError);
    const v2 = Buffer.from(JSON.stringify({ v: 2, messages: [] }));
    const frame = Buffer.concat([Buffer.from([0, 0, 0, v2.length]), v2]);
    expect(() => decodeMessages(frame)).toThrow(/version/);
    const rng = seededRng(7);
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(Array.from({ length: rng.int(0, 64) }, () => rng.int(0, 256)));
      try {
        decodeMessages(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(PeerCodecError);
      }
    }
  });

  it('round-trips a snapshot chunk and refuses a chunk header without its fields', () => {
    const header = { ...env, type: 'snapshot' as const, meta: { index: 9, term: 3, membership: { members: [] } }, offset: 4096, done: true, size: 5000, checksum: 123456 };
    const data = new Uint8Array([9, 8, 7]);
    const decoded = decodeSnapshotChunk(encodeSnapshotChunk(header, data));
    expect(decoded.header).toEqual(header);
    expect(decoded.data).toEqual(data);
    expect(() => decodeSnapshotChunk(encodeSnapshotChunk({ ...header, offset: -1 }, data))).toThrow(PeerCodecError);
  });
});
