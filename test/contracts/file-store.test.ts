import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileStore } from '../../src/registry/file-store.js';
import { runStoreContract } from './store.contract.js';

runStoreContract('file store', async () => {
  const home = await mkdtemp(join(tmpdir(), 'oo-ml-contract-file-'));
  return {
    store: createFileStore(join(home, 'mlruns')),
    close: () => rm(home, { recursive: true, force: true }),
  };
});
