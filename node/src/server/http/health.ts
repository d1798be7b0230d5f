// `/healthz`, `/readyz` and `/metrics`: open even when auth is on (design section 4), cheap, and
// answered by this node alone (a probe must describe the pod it probes).
import type { Router } from 'express';
import { HttpError } from './errors.js';
import { mountRoute } from './routing.js';
import type { AppContext, MetricsExposition } from './types.js';

export function mountHealth(router: Router, ctx: AppContext, metrics: MetricsExposition | undefined): void {
  const { node } = ctx;
  mountRoute(router, '/healthz', '/healthz', {
    GET: (_req, res) => {
      if (!node.healthy()) throw new HttpError(503, 'unhealthy', 'the node or its storage is not working');
      res.setHeader('Cache-Control', 'no-store');
      res.json({ status: 'ok', id: node.id });
    },
  });
  mountRoute(router, '/readyz', '/readyz', {
    GET: (_req, res) => {
      const r = node.ready();
      if (!r.ready) {
        throw new HttpError(503, 'not_ready', r.reason ?? 'the node is not ready', {}, {
          'Retry-After': String(ctx.options.retryAfterSeconds),
        });
      }
      res.setHeader('Cache-Control', 'no-store');
      res.json({ status: 'ready', id: node.id });
    },
  });
  if (metrics !== undefined) {
    mountRoute(router, '/metrics', '/metrics', {
      GET: async (_req, res) => {
        const { contentType, body } = await metrics.render();
        res.setHeader('Content-Type', contentType);
        res.setHeader('Cache-Control', 'no-store');
        res.end(body);
      },
    });
  }
}
