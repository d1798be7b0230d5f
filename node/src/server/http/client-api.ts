// The client API of design section 3: keys, listings, history and rollback. Watches live in
// watch.ts. Reads are linearizable by default (a ReadIndex barrier on the leader, forwarded from a
// follower); `?consistency=serializable` reads this node's copy. Writes are proposed through Raft
// and answered only once applied.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, Response, Router } from 'express';
import {
  InvalidCommandError,
  validateContentType,
  validatePrefix,
  type Command,
  type CommandResult,
  type KeyValue,
} from '../../store/index.js';
import type { ProposeOptions } from '../node-api.js';
import { audit } from './audit.js';
import { readBody } from './body.js';
import { badRequest, commandFailureError, HttpError } from './errors.js';
import type { LeaderRouter } from './forward.js';
import {
  consistencyOf,
  contentTypeOf,
  ifMatchRevision,
  ifNoneMatchStar,
  keyFromPath,
  keyOfPath,
  queryBoolean,
  queryConsistency,
  queryPositiveInt,
  queryPositiveIntOf,
  queryString,
  type Consistency,
  type Query,
} from './params.js';
import { isExpressResponse, sendJson as sendJsonBody } from './raw.js';
import { writeAnswerHead } from './request-context.js';
import { mountRoute } from './routing.js';
import type { AppContext } from './types.js';
import { asBuffer, encodeValue } from './value-encoding.js';

export const KV_PREFIX = '/v1/kv/';
export const HISTORY_PREFIX = '/v1/history/';
export const ROLLBACK_PREFIX = '/v1/rollback/';

/** Routes are regular expressions without captures: the key is decoded by `keyFromPath`. */
const KV_ROUTE = /^\/v1\/kv\/.*$/s;
const HISTORY_ROUTE = /^\/v1\/history\/.*$/s;
const ROLLBACK_ROUTE = /^\/v1\/rollback\/.*$/s;

export function mountClientApi(router: Router, ctx: AppContext, leader: LeaderRouter): ClientApi {
  const api = new ClientApi(ctx, leader);
  mountRoute(router, KV_ROUTE, '/v1/kv/{key}', {
    GET: (req, res) => api.get(req, res),
    PUT: (req, res) => api.put(req, res),
    DELETE: (req, res) => api.delete(req, res),
  });
  mountRoute(router, '/v1/kv', '/v1/kv', { GET: (req, res) => api.list(req, res) });
  mountRoute(router, HISTORY_ROUTE, '/v1/history/{key}', { GET: (req, res) => api.history(req, res) });
  mountRoute(router, ROLLBACK_ROUTE, '/v1/rollback/{key}', { POST: (req, res) => api.rollback(req, res) });
  return api;
}

/**
 * The client API's handlers. `getKey` and `putKey` take node:http's own request and response so
 * that hot-kv.ts can serve the two busiest routes without express; the express routes call them too.
 */
export class ClientApi {
  private readonly proposeOptions: ProposeOptions;

  constructor(
    private readonly ctx: AppContext,
    private readonly leader: LeaderRouter,
  ) {
    this.proposeOptions = ctx.options.proposeTimeoutMs === undefined ? {} : { timeoutMs: ctx.options.proposeTimeoutMs };
  }

  async get(req: Request, res: Response): Promise<void> {
    await this.getKey(req, res, req.path, req.query as Query);
  }

  /** `GET /v1/kv/{key}` with the URL's path and parsed query. */
  async getKey(req: IncomingMessage, res: ServerResponse, path: string, query: Query): Promise<void> {
    const key = keyOfPath(path, KV_PREFIX);
    const consistency = consistencyOf(query);
    const revision = queryPositiveIntOf(query, 'revision');
    await this.ctx.authorize(req as Request, { kind: 'read', key });
    await this.read(req, res, consistency, () => {
      const store = this.ctx.node.store;
      const kv = store.get(key, revision);
      const storeRevision = store.revision();
      if (kv === null) {
        const at = revision === undefined ? '' : ` at revision ${revision}`;
        throw new HttpError(404, 'not_found', `key does not exist${at}`, { key }, revisionHeader(storeRevision));
      }
      writeValue(res, kv, storeRevision);
    });
  }

  async put(req: Request, res: Response): Promise<void> {
    await this.putKey(req, res, req.path);
  }

  /** `PUT /v1/kv/{key}` with the URL's path. */
  async putKey(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const key = keyOfPath(path, KV_PREFIX);
    const ifMatch = ifMatchRevision(req);
    const ifNoneMatch = ifNoneMatchStar(req);
    const contentType = contentTypeOf(req);
    try {
      validateContentType(contentType);
    } catch (err) {
      if (err instanceof InvalidCommandError) throw badRequest(err.message, 'invalid_content_type');
      throw err;
    }
    await this.ctx.authorize(req as Request, { kind: 'write', key });
    const body = await readBody(req, res, this.ctx.options.maxValueBytes, 'value');
    const command: Command = { type: 'put', key, value: body, contentType };
    if (ifMatch !== undefined) command.ifMatchModRevision = ifMatch;
    if (ifNoneMatch) command.ifNoneMatch = true;
    await this.write(req, res, command, body);
  }

  async delete(req: Request, res: Response): Promise<void> {
    const key = keyFromPath(req, KV_PREFIX);
    const ifMatch = ifMatchRevision(req);
    if (req.get('If-None-Match') !== undefined) {
      throw badRequest('If-None-Match is not supported on DELETE', 'invalid_if_none_match');
    }
    await this.ctx.authorize(req, { kind: 'write', key });
    const command: Command = { type: 'delete', key };
    if (ifMatch !== undefined) command.ifMatchModRevision = ifMatch;
    await this.write(req, res, command, undefined);
  }

  async rollback(req: Request, res: Response): Promise<void> {
    const key = keyFromPath(req, ROLLBACK_PREFIX);
    const toRevision = queryPositiveInt(req, 'toRevision');
    if (toRevision === undefined) throw badRequest('toRevision is required', 'invalid_argument', { field: 'toRevision' });
    const ifMatch = ifMatchRevision(req);
    await this.ctx.authorize(req, { kind: 'write', key });
    const command: Command = { type: 'rollback', key, toRevision };
    if (ifMatch !== undefined) command.ifMatchModRevision = ifMatch;
    await this.write(req, res, command, undefined);
  }

  async list(req: Request, res: Response): Promise<void> {
    const prefix = queryString(req, 'prefix') ?? '';
    validatePrefix(prefix);
    const after = queryString(req, 'after');
    if (after !== undefined) validatePrefix(after, 'after');
    const requested = queryPositiveInt(req, 'limit');
    const limit = Math.min(requested ?? this.ctx.options.listLimitMax, this.ctx.options.listLimitMax);
    const keysOnly = queryBoolean(req, 'keysOnly');
    const consistency = queryConsistency(req);
    await this.ctx.authorize(req, { kind: 'read', prefix });
    await this.read(req, res, consistency, () => {
      const options = { prefix, limit, keysOnly, ...(after === undefined ? {} : { after }) };
      const result = this.ctx.node.store.list(options);
      const items = result.items.map((item) => {
        const base = {
          key: item.key,
          modRevision: item.modRevision,
          createRevision: item.createRevision,
          version: item.version,
          contentType: item.contentType,
        };
        return item.value === undefined ? base : { ...base, ...encodeValue(item.value) };
      });
      sendJson(res, 200, { revision: result.revision, items, more: result.more }, result.revision);
    });
  }

  async history(req: Request, res: Response): Promise<void> {
    const key = keyFromPath(req, HISTORY_PREFIX);
    const consistency = queryConsistency(req);
    await this.ctx.authorize(req, { kind: 'read', key });
    await this.read(req, res, consistency, () => {
      const store = this.ctx.node.store;
      const items = store.history(key).map((h) => ({
        modRevision: h.modRevision,
        createRevision: h.createRevision,
        version: h.version,
        contentType: h.contentType,
        deleted: h.deleted,
        ...encodeValue(h.value),
      }));
      const revision = store.revision();
      sendJson(res, 200, { key, revision, items }, revision);
    });
  }

  /** Serve `respond` from the local store, after a read barrier unless serializable. */
  private async read(req: IncomingMessage, res: ServerResponse, consistency: Consistency, respond: () => void): Promise<void> {
    if (consistency === 'serializable') {
      respond();
      return;
    }
    await this.leader.run(req, res, { kind: 'read' }, async () => {
      await this.ctx.node.readBarrier(this.proposeOptions);
      respond();
    });
  }

  private async write(req: IncomingMessage, res: ServerResponse, command: Command, body: Buffer | undefined): Promise<void> {
    await this.leader.run(req, res, body === undefined ? { kind: 'write' } : { kind: 'write', body }, async () => {
      const result = await this.ctx.node.propose(command, this.proposeOptions);
      sendWriteResult(res, command, result);
      if (result.ok && result.type !== 'compact') {
        audit(this.ctx.logger, req, res, {
          action: result.type,
          key: result.key,
          revision: result.revision,
          ...(result.type === 'rollback' ? { toRevision: result.toRevision } : {}),
        });
      }
    });
  }
}

function revisionHeader(revision: number): Record<string, string> {
  return { 'Conflux-Revision': String(revision) };
}

function etag(modRevision: number): string {
  return `"${modRevision}"`;
}

function writeValue(res: ServerResponse, kv: KeyValue, storeRevision: number): void {
  const body = asBuffer(kv.value);
  writeAnswerHead(res, 200, [
    'Content-Type', kv.contentType,
    'Content-Length', String(body.length),
    'ETag', etag(kv.modRevision),
    'Conflux-Revision', String(storeRevision),
    'Conflux-Create-Revision', String(kv.createRevision),
    'Conflux-Mod-Revision', String(kv.modRevision),
    'Conflux-Version', String(kv.version),
    // A cached copy would be a stale read: linearizability ends at this node.
    'Cache-Control', 'no-cache',
  ]);
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown, storeRevision: number, etagValue?: string): void {
  if (isExpressResponse(res)) {
    if (etagValue !== undefined) res.setHeader('ETag', etagValue);
    res.setHeader('Conflux-Revision', String(storeRevision));
    res.setHeader('Cache-Control', 'no-cache');
    sendJsonBody(res, status, body);
    return;
  }
  // The hot PUT route: what sendJsonBody would send, in one writeHead.
  const text = JSON.stringify(body);
  const headers = etagValue === undefined ? [] : ['ETag', etagValue];
  headers.push(
    'Conflux-Revision', String(storeRevision),
    'Cache-Control', 'no-cache',
    'Content-Type', 'application/json; charset=utf-8',
    'Content-Length', String(Buffer.byteLength(text, 'utf8')),
  );
  writeAnswerHead(res, status, headers);
  res.end(text, 'utf8');
}

function sendWriteResult(res: ServerResponse, command: Command, result: CommandResult): void {
  if (!result.ok) throw commandFailureError(result);
  switch (result.type) {
    case 'put':
    case 'rollback': {
      const body: Record<string, unknown> = {
        key: result.key,
        revision: result.revision,
        createRevision: result.createRevision,
        modRevision: result.modRevision,
        version: result.version,
      };
      if (result.type === 'rollback') body.toRevision = result.toRevision;
      sendJson(res, result.created ? 201 : 200, body, result.revision, etag(result.modRevision));
      return;
    }
    case 'delete':
      sendJson(res, 200, { key: result.key, revision: result.revision }, result.revision);
      return;
    case 'compact':
      throw new Error(`a ${command.type} command returned a compact result`);
  }
}
