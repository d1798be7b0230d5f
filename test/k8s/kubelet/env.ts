// A container's environment as the kubelet builds it: envFrom first, then env in order, each value
// able to refer to the variables defined before it with $(VAR). Service-link variables are never
// added (the process kubelet has no Service routing; nothing may dial a ClusterIP).
import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';

/** What `valueFrom` may read: the pod, its node's address, and Secrets/ConfigMaps by name. */
export interface EnvSources {
  pod: V1Pod;
  podIP: string;
  hostIP: string;
  secret(name: string): Record<string, string> | null;
  configMap(name: string): Record<string, string> | null;
}

export class EnvError extends Error {
  readonly code = 'create_container_config_error';
}

/**
 * Kubernetes' $(VAR) expansion: a defined VAR is replaced, `$$` is an escaped `$`, and an
 * undefined reference stays as written.
 */
export function expand(input: string, vars: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c !== '$' || i + 1 >= input.length) {
      out += c;
      continue;
    }
    const next = input[i + 1];
    if (next === '$') {
      out += '$';
      i++;
      continue;
    }
    if (next === '(') {
      const end = input.indexOf(')', i + 2);
      if (end !== -1) {
        const name = input.slice(i + 2, end);
        out += Object.prototype.hasOwnProperty.call(vars, name) ? vars[name] : `$(${name})`;
        i = end;
        continue;
      }
    }
    out += c;
  }
  return out;
}

export function fieldValue(path: string, s: EnvSources): string {
  const meta = s.pod.metadata ?? {};
  const label = /^metadata\.labels\['(.+)'\]$/.exec(path);
  if (label) return meta.labels?.[label[1]!] ?? '';
  const annotation = /^metadata\.annotations\['(.+)'\]$/.exec(path);
  if (annotation) return meta.annotations?.[annotation[1]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return meta.name ?? '';
    case 'metadata.namespace':
      return meta.namespace ?? 'default';
    case 'metadata.uid':
      return meta.uid ?? '';
    case 'metadata.labels':
      return Object.entries(meta.labels ?? {}).map(([k, v]) => `${k}="${v}"`).join('\n');
    case 'spec.nodeName':
      return s.pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return s.pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.podIPs':
      return s.podIP;
    case 'status.hostIP':
    case 'status.hostIPs':
      return s.hostIP;
    default:
      throw new EnvError(`unsupported fieldRef ${path}`);
  }
}

function fromSource(v: V1EnvVar, s: EnvSources): string | undefined {
  const from = v.valueFrom!;
  if (from.fieldRef) return fieldValue(from.fieldRef.fieldPath, s);
  if (from.secretKeyRef) {
    const ref = from.secretKeyRef;
    const data = s.secret(ref.name ?? '');
    const value = data?.[ref.key];
    if (value === undefined && ref.optional !== true) throw new EnvError(`secret ${ref.name} key ${ref.key} not found`);
    return value;
  }
  if (from.configMapKeyRef) {
    const ref = from.configMapKeyRef;
    const data = s.configMap(ref.name ?? '');
    const value = data?.[ref.key];
    if (value === undefined && ref.optional !== true) throw new EnvError(`configmap ${ref.name} key ${ref.key} not found`);
    return value;
  }
  if (from.resourceFieldRef) throw new EnvError(`resourceFieldRef ${from.resourceFieldRef.resource} is not supported by the process kubelet`);
  throw new EnvError(`env ${v.name}: empty valueFrom`);
}

/** The variables Kubernetes defines for a container (without service links), in definition order. */
export function containerEnv(container: V1Container, s: EnvSources): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const src of container.envFrom ?? []) {
    const prefix = src.prefix ?? '';
    let data: Record<string, string> | null = null;
    if (src.secretRef) {
      data = s.secret(src.secretRef.name ?? '');
      if (data === null && src.secretRef.optional !== true) throw new EnvError(`secret ${src.secretRef.name} not found`);
    } else if (src.configMapRef) {
      data = s.configMap(src.configMapRef.name ?? '');
      if (data === null && src.configMapRef.optional !== true) throw new EnvError(`configmap ${src.configMapRef.name} not found`);
    }
    for (const [k, v] of Object.entries(data ?? {})) vars[prefix + k] = v;
  }
  for (const v of container.env ?? []) {
    if (v.valueFrom) {
      const value = fromSource(v, s);
      if (value !== undefined) vars[v.name] = value;
    } else {
      vars[v.name] = expand(v.value ?? '', vars);
    }
  }
  return vars;
}

/** A Secret's data decoded (stringData is folded into data by the API server). */
export function decodeSecretData(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}
