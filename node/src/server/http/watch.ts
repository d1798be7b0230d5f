// `GET /v1/watch`: Server-Sent Events fed by the store's WatchHub (design section 3).
//
// Memory per stream is bounded twice: the hub keeps a cursor, not a queue, and cuts a watcher
// off when it lags more than `maxLagEvents` matching changes; and this module takes one event at a
// time from the hub only while the socket is not backed up, so at most one socket buffer plus one
// event sits in memory however slow the client is. A stream that stops draining makes the hub's
// lag grow until the hub cancels it; we then send `event: error` and close, and the client resumes
// with Last-Event-ID.
import type { Request, Response, Router } from 'express';
import { validatePrefix, WatchCancelledError, type WatchEvent, type Watcher } from '../../store/index.js';
import { badRequest, HttpError } from './errors.js';
import { queryPositiveInt, queryString } from './params.js';
import { mountRoute } from './routing.js';
import type { AppContext } from './types.js';
import { encodeValue } from './value-encoding.js';

/** An event's SSE text, and the same as one HTTP/1.1 chunk (`chunked` transfer coding). */
interface FormattedEvent {
  text: Buffer;
  chunk: Buffer;
}

const CRLF = Buffer.from('\r\n', 'latin1');

/** How long a cut-off stream may take to flush its last event before the socket is destroyed. */
const FINAL_FLUSH_MS = 5000;

/** Formatted events kept for the other streams that deliver the same change (fan-out). */
const FORMATTED_EVENTS_KEPT = 1024;

export class WatchStreams {
  private readonly open = new Set<(reason: string) => void>();
  /**
   * The SSE text of recent changes by revision: a change delivered to a thousand watchers is
   * formatted once (a revision always names the same change: the text never goes stale).
   */
  private readonly formatted = new Map<number, FormattedEvent>();

  constructor(private readonly ctx: AppContext) {}

  mount(router: Router): void {
    mountRoute(router, '/v1/watch', '/v1/watch', { GET: (req, res) => this.serve(req, res) });
  }

  /** Streams being served now. */
  get count(): number {
    return this.open.size;
  }

  /** Ends every stream (shutdown): clients see the stream end and resume elsewhere. */
  closeAll(): void {
    for (const stop of [...this.open]) stop('the node is shutting down');
  }

  private async serve(req: Request, res: Response): Promise<void> {
    const prefix = queryString(req, 'prefix') ?? '';
    validatePrefix(prefix);
    const fromRevision = startRevision(req);
    await this.ctx.authorize(req, { kind: 'read', prefix });
    const { watch } = this.ctx.options;
    if (this.open.size >= watch.maxWatchers) {
      throw new HttpError(
        429,
        'too_many_watchers',
        `this node serves at most ${watch.maxWatchers} watch streams; retry later or on another node`,
        {},
        { 'Retry-After': String(this.ctx.options.retryAfterSeconds) },
      );
    }
    const store = this.ctx.node.store;
    const start = this.ctx.node.watches.watch({
      prefix,
      ...(fromRevision === undefined ? {} : { fromRevision }),
      maxBufferedEvents: watch.maxLagEvents,
    });
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    res.setHeader('Cache-Control', 'no-cache, no-store');
    // Reverse proxies (nginx) buffer responses unless told not to; events must flow at once.
    res.setHeader('X-Accel-Buffering', 'no');
    res.setHeader('Conflux-Revision', String(store.revision()));
    if (start.kind === 'compacted') {
      res.end(compactedEvent(start.oldestRevision));
      return;
    }
    if (req.method === 'HEAD') {
      // The headers a GET would get, and no stream: events are written to the socket directly
      // (pump), past node:http's HEAD check.
      start.watcher.close();
      res.end();
      return;
    }
    res.flushHeaders();
    await this.pump(res, start.watcher);
  }

  private async pump(res: Response, watcher: Watcher): Promise<void> {
    let stopped = false;
    const heartbeat = setInterval(() => {
      // A backed-up socket needs no keep-alive, and the comment would only add to the backlog.
      if (res.socket?.writableNeedDrain !== true) res.write(': heartbeat\n\n');
    }, this.ctx.options.watch.heartbeatMs);
    heartbeat.unref();
    const stop = (finalEvent?: string): void => {
      if (stopped) return;
      stopped = true;
      clearInterval(heartbeat);
      this.open.delete(shutdown);
      watcher.close();
      if (res.writableEnded || res.destroyed) return;
      res.end(finalEvent);
      // A client that stopped reading would keep the socket forever.
      setTimeout(() => res.destroy(), FINAL_FLUSH_MS).unref();
    };
    const shutdown = (message: string): void => stop(errorEvent('shutting_down', message));
    this.open.add(shutdown);
    res.once('close', () => stop());

    try {
      while (!stopped) {
        let event: WatchEvent | undefined;
        try {
          event = watcher.take(1)[0];
        } catch (err) {
          if (!(err instanceof WatchCancelledError)) throw err;
          stop(cancelledEvent(err));
          return;
        }
        if (event !== undefined) {
          const socket = res.socket;
          if (socket === null || socket.destroyed) {
            stop();
            return;
          }
          // Straight to the socket, already framed: node:http would build the chunk header and
          // hand three pieces to the socket for each of the thousands of streams an event goes to.
          // The headers went out (flushHeaders) and node writes nothing else on its own meanwhile,
          // so the order of everything on the socket is kept.
          const formatted = this.format(event);
          if (!socket.write(res.chunkedEncoding ? formatted.chunk : formatted.text)) await this.drained(res, watcher);
          continue;
        }
        if (watcher.closed) {
          // Closed without a cancellation: the hub shut down (node stopping).
          stop(errorEvent('shutting_down', 'the watch ended on this node; resume with Last-Event-ID'));
          return;
        }
        // Woken by an event, a cancellation (take throws next) or close (next round ends it).
        await watcher.ready();
      }
    } finally {
      stop();
    }
  }

  private format(event: WatchEvent): FormattedEvent {
    let formatted = this.formatted.get(event.revision);
    if (formatted === undefined) {
      // Encoded once too: a string would be converted to UTF-8 again for every stream.
      const text = Buffer.from(formatEvent(event), 'utf8');
      const chunk = Buffer.concat([Buffer.from(`${text.length.toString(16)}\r\n`, 'latin1'), text, CRLF]);
      formatted = { text, chunk };
      this.formatted.set(event.revision, formatted);
      // Maps iterate in insertion order: drop the oldest.
      if (this.formatted.size > FORMATTED_EVENTS_KEPT) this.formatted.delete(this.formatted.keys().next().value as number);
    }
    return formatted;
  }

  /** Resolves when the socket drains, closes, or the hub cut the watcher off meanwhile. */
  private drained(res: Response, watcher: Watcher): Promise<void> {
    const socket = res.socket;
    return new Promise((resolve) => {
      const done = (): void => {
        clearInterval(check);
        socket?.off('drain', done);
        res.off('close', done);
        resolve();
      };
      const check = setInterval(() => {
        if (watcher.cancelReason !== null) done();
      }, this.ctx.options.watch.stallCheckMs);
      check.unref();
      if (socket === null) {
        done();
        return;
      }
      socket.once('drain', done);
      res.once('close', done);
    });
  }
}

/**
 * The first revision to send. `Last-Event-ID: R` (a reconnecting client) resumes after R and wins
 * over `fromRevision`, which is inclusive. Neither: only changes from now on.
 */
function startRevision(req: Request): number | undefined {
  const lastEventId = req.get('Last-Event-ID')?.trim();
  const fromRevision = queryPositiveInt(req, 'fromRevision');
  // An empty Last-Event-ID is what an EventSource sends before it saw any id.
  if (lastEventId === undefined || lastEventId === '') return fromRevision;
  const trimmed = lastEventId;
  const n = /^[0-9]{1,16}$/.test(trimmed) ? Number(trimmed) : NaN;
  if (!Number.isSafeInteger(n) || n >= Number.MAX_SAFE_INTEGER) {
    throw badRequest('Last-Event-ID must be a revision', 'invalid_argument', { field: 'Last-Event-ID' });
  }
  return n + 1;
}

function formatEvent(e: WatchEvent): string {
  const data = {
    key: e.key,
    modRevision: e.modRevision,
    createRevision: e.createRevision,
    version: e.version,
    contentType: e.contentType,
    ...encodeValue(e.value),
  };
  // JSON.stringify escapes CR and LF, so the data always fits on one `data:` line.
  return `id: ${e.revision}\nevent: ${e.type}\ndata: ${JSON.stringify(data)}\n\n`;
}

function compactedEvent(oldestRevision: number): string {
  const data = { oldestRevision, message: `history before revision ${oldestRevision} is compacted` };
  return `event: compacted\ndata: ${JSON.stringify(data)}\n\n`;
}

function errorEvent(code: string, message: string): string {
  return `event: error\ndata: ${JSON.stringify({ code, message })}\n\n`;
}

function cancelledEvent(err: WatchCancelledError): string {
  if (err.reason === 'compacted' && err.oldestRevision !== undefined) return compactedEvent(err.oldestRevision);
  return errorEvent(err.reason, `${err.message}; resume with Last-Event-ID`);
}
