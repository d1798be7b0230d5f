// Shared fixtures of the backup tests.
import { backupHeaderOf, encodeBackup } from '../../node/src/store/backup-format.js';
import type { KvStore } from '../../node/src/store/kv-store.js';
import { Feeder, collect, enc, meta } from '../store/helpers.js';

/** A store with creates, updates, a delete, a re-create, a binary value and a big value. */
export function sampleStore(): KvStore {
  const f = new Feeder();
  const put = (key: string, value: string | Uint8Array, contentType = 'text/plain') =>
    f.run({ type: 'put', key, value: typeof value === 'string' ? enc(value) : value, contentType });
  put('app/a', 'one');
  put('app/a', 'two');
  put('app/b', 'bee');
  f.run({ type: 'delete', key: 'app/b' });
  put('app/b', 'again');
  put('bin', new Uint8Array([0, 255, 1, 254]), 'application/octet-stream');
  put('big', 'x'.repeat(200_000));
  f.run({ type: 'delete', key: 'big' });
  put('ü/κλειδί', 'unicode');
  return f.store;
}

export async function backupBytes(store: KvStore, consistency: 'linearizable' | 'serializable' = 'linearizable'): Promise<Uint8Array> {
  const image = store.image(meta(store.appliedIndex(), 3));
  const header = backupHeaderOf(image.info, { clusterId: 'c-1', nodeId: 'n1', createdAt: new Date(0), consistency });
  return collect(encodeBackup(header, image.chunks));
}

