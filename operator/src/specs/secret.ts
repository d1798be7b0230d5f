// The auth Secret the operator generates when spec.auth.secretName is absent: the admin token
// (the operator's own credential for the admin API, and every client right) and the peer token.
import { randomBytes } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import type { ConfluxCluster } from '../api/types.js';
import { generatedSecretName, labelsFor, metaNamespace, ownerReference, SECRET_KEYS } from './names.js';

export interface AuthTokens {
  admin: string;
  peer: string;
}

/** 256 random bits, hex: printable, no newline, safe in a token file. */
export function randomToken(): string {
  return randomBytes(32).toString('hex');
}

export function buildAuthSecret(cluster: ConfluxCluster, tokens: AuthTokens): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: generatedSecretName(cluster),
      namespace: metaNamespace(cluster),
      labels: labelsFor(cluster, 'auth'),
      ownerReferences: [ownerReference(cluster)],
    },
    data: { [SECRET_KEYS.admin]: b64(tokens.admin), [SECRET_KEYS.peer]: b64(tokens.peer) },
  };
}

export function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** A Secret's key as text (trimmed, as the node reads token files), or undefined when absent. */
export function secretValue(secret: V1Secret, key: string): string | undefined {
  const data = secret.data?.[key];
  if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8').trim();
  const plain = secret.stringData?.[key];
  return plain?.trim();
}
