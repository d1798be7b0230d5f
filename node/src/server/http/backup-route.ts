// `GET /admin/snapshot`: streams a backup file (format in store/backup-format.ts) of the store.
//
// Consistency: by default the backup is linearizable, like a read: on the leader after a read
// barrier (ReadIndex), so it holds every write acknowledged before the request. A follower serves
// it from its own state, so that a big backup does not load the leader: it asks the leader for a
// read index (`GET /admin/read-index`: the leader passes a barrier and names its applied index),
// waits until it has applied that far, and captures its image there. Without a known leader URL it
// forwards the request like a linearizable read. `?consistency=serializable` takes this node's
// applied state without asking anyone: the way to back up a survivor that lost its quorum, before
// --force-new-cluster.
//
// The image is captured synchronously at one applied index (KvStore.image), then streamed with
// backpressure: memory stays at a frame (64 KiB) plus the socket's buffer, whatever the store's
// size, and writes go on meanwhile. Once the first byte is out a failure can no longer become a
// JSON error: the connection is cut, and the reader sees a backup without its trailer (refused).
import type { Request, Response } from 'express';
import { BACKUP_CONTENT_TYPE } from '../../store/backup-format.js';
import { audit } from './audit.js';
import { HttpError } from './errors.js';
import type { LeaderRouter } from './forward.js';
import { queryConsistency } from './params.js';
import type { AppContext } from './types.js';

/** How long a follower may take to apply up to the leader's read index before it answers 503. */
const FOLLOWER_CATCH_UP_MS = 10_000;

export async function serveBackup(ctx: AppContext, leader: LeaderRouter, req: Request, res: Response): Promise<void> {
  const consistency = queryConsistency(req);
  await ctx.authorize(req, { kind: 'admin' });
  if (ctx.node.openBackup === undefined) throw new HttpError(501, 'not_supported', 'this node cannot produce backups');
  if (consistency === 'serializable') {
    await stream(ctx, req, res, 'serializable');
    return;
  }
  if (!ctx.node.isLeader() && ctx.node.waitApplied !== undefined) {
    const index = await leader.leaderReadIndex(req);
    if (index !== null) {
      await ctx.node.waitApplied(index, FOLLOWER_CATCH_UP_MS);
      await stream(ctx, req, res, 'linearizable');
      return;
    }
  }
  await leader.run(req, res, { kind: 'read' }, async () => {
    await ctx.node.readBarrier();
    await stream(ctx, req, res, 'linearizable');
  });
}

/**
 * `GET /admin/read-index` (admin): a read barrier on the leader (followers forward), answering
 * `{index}`: the leader's applied index, which holds every write acknowledged before the call.
 */
export async function serveReadIndex(ctx: AppContext, leader: LeaderRouter, req: Request, res: Response): Promise<void> {
  await ctx.authorize(req, { kind: 'admin' });
  await leader.run(req, res, { kind: 'read' }, async () => {
    await ctx.node.readBarrier();
    res.json({ index: ctx.node.status().appliedIndex });
  });
}

async function stream(ctx: AppContext, req: Request, res: Response, consistency: 'linearizable' | 'serializable'): Promise<void> {
  const backup = ctx.node.openBackup!(consistency);
  const { header } = backup;
  res.status(200);
  res.setHeader('Content-Type', BACKUP_CONTENT_TYPE);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Conflux-Revision', String(header.revision));
  res.setHeader('Conflux-Backup-Index', String(header.index));
  // The status goes out now: a failure while the image is encoded then reaches the client as a
  // cut stream (refused by the reader), never as an unreachable node.
  res.flushHeaders();
  let bytes = 0;
  try {
    for await (const chunk of backup.chunks) {
      bytes += chunk.length;
      if (!(await write(res, chunk))) {
        ctx.logger.warn('backup stream abandoned by the client', { revision: header.revision, bytes });
        return;
      }
    }
  } catch (err) {
    // Headers (and maybe data) are out: cutting the connection is the only way left to say no.
    ctx.logger.error('backup stream failed', { revision: header.revision, bytes, error: err instanceof Error ? err.message : String(err) });
    res.destroy();
    return;
  }
  res.end();
  audit(ctx.logger, req, res, { action: 'backup', revision: header.revision, index: header.index, bytes, consistency });
}

/** Writes with backpressure; false when the client went away. */
function write(res: Response, chunk: Uint8Array): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}
