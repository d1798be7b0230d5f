// A small JSON client for the few API calls the process kubelet makes. Credentials and the CA come
// from @kubernetes/client-node's KubeConfig (applyToHTTPSOptions); the requests themselves are plain
// node:https so that status patches, UID-preconditioned deletes and Lease MicroTimes are exactly
// what is written here (client-node 1.x defaults patches to JSON Patch and re-serialises bodies).
import { request, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason?: string,
  ) {
    super(message);
  }
  readonly code = 'kube_api';
}

export const isNotFound = (err: unknown) => err instanceof KubeApiError && err.status === 404;
export const isConflict = (err: unknown) => err instanceof KubeApiError && err.status === 409;

export type PatchType = 'merge' | 'strategic';
const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export class KubeRest {
  private constructor(
    private readonly server: URL,
    private readonly base: RequestOptions,
  ) {}

  static async fromKubeConfig(kc: KubeConfig): Promise<KubeRest> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const base: RequestOptions = {};
    await kc.applyToHTTPSOptions(base);
    return new KubeRest(new URL(cluster.server), base);
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }
  create<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PUT', path, body);
  }
  patch<T>(path: string, body: unknown, type: PatchType = 'merge'): Promise<T> {
    return this.call<T>('PATCH', path, body, PATCH_CONTENT_TYPES[type]);
  }
  delete<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('DELETE', path, body);
  }

  private call<T>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { ...(this.base.headers as Record<string, string>), accept: 'application/json' };
    if (payload) {
      headers['content-type'] = contentType;
      headers['content-length'] = payload.length;
    }
    return new Promise<T>((resolve, reject) => {
      const req = request(
        {
          ...this.base,
          protocol: this.server.protocol,
          hostname: this.server.hostname,
          port: this.server.port,
          method,
          path: `${this.server.pathname.replace(/\/$/, '')}${path}`,
          headers,
          // A half-open connection must not hang the kubelet's loop.
          timeout: 15_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown = undefined;
            try {
              parsed = text === '' ? undefined : JSON.parse(text);
            } catch {
              parsed = text;
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve(parsed as T);
            const s = (parsed ?? {}) as { message?: string; reason?: string };
            reject(new KubeApiError(status, `${method} ${path}: ${status} ${s.message ?? text}`, s.reason));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
      req.on('error', reject);
      if (payload) req.write(payload);
      req.end();
    });
  }
}
