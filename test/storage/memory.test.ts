import { MemoryLogStorage } from '../../node/src/storage/memory-log-storage.js';
import { runLogStorageSuite } from '../conformance/log-storage.case.js';

runLogStorageSuite({
  name: 'MemoryLogStorage',
  create: async () => {
    let storage = MemoryLogStorage.create();
    return {
      storage,
      reopen: async () => {
        storage = storage.reopen();
        return storage;
      },
      cleanup: async () => undefined,
    };
  },
});
