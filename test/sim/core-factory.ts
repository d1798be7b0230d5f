// Binds the simulator to the real core. The assignment type-checks RaftCore against the surface
// the harness drives (core-api.ts).
import { RaftCore } from '../../node/src/raft/core.js';
import type { CoreFactory } from './core-api.js';

export const createRaftCore: CoreFactory = (config, initial) => new RaftCore(config, initial);
