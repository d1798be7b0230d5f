// The client port's HTTP layer: what main.ts (the composition root) and the auth feature import.
export { createClientServerApp } from './app.js';
export type { ClientServerApp, ClientServerAppOptions } from './app.js';
export { attachClientErrorHandler } from './client-errors.js';
export { ForbiddenError, HttpError, UnauthorizedError, toHttpError } from './errors.js';
export { FORWARDED_BY_HEADER } from './forward.js';
export { REQUEST_ID_HEADER } from './request-context.js';
export { DEFAULT_HTTP_OPTIONS, allowAll, resolveHttpOptions } from './types.js';
export type {
  AccessNeed,
  Authorize,
  HttpLogger,
  HttpMetrics,
  HttpOptions,
  HttpOptionsInput,
  WatchOptions,
} from './types.js';
