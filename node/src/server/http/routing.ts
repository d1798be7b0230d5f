// Route registration with the two things every route needs: a route label for logs and metrics,
// and a JSON 405 with `Allow` for the methods it does not serve. Handler rejections go to the
// app's error handler, so a throw anywhere becomes a JSON error response, never a crash.
import type { NextFunction, Request, Response, Router } from 'express';
import { methodNotAllowed } from './errors.js';
import { setRoute } from './request-context.js';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';
export type Handler = (req: Request, res: Response) => Promise<void> | void;

const LOWER: Record<Method, 'get' | 'put' | 'post' | 'delete'> = {
  GET: 'get',
  PUT: 'put',
  POST: 'post',
  DELETE: 'delete',
};

export function mountRoute(
  router: Router,
  path: string | RegExp,
  label: string,
  handlers: Partial<Record<Method, Handler>>,
): void {
  const route = router.route(path);
  const allowed: string[] = [];
  for (const [method, handler] of Object.entries(handlers) as [Method, Handler][]) {
    allowed.push(method);
    if (method === 'GET') allowed.push('HEAD');
    route[LOWER[method]]((req: Request, res: Response, next: NextFunction) => {
      setRoute(res, label);
      Promise.resolve()
        .then(() => handler(req, res))
        .catch(next);
    });
  }
  route.all((req: Request, res: Response, next: NextFunction) => {
    setRoute(res, label);
    next(methodNotAllowed(req.method, allowed));
  });
}
