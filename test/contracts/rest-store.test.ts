import { createRestStore } from '../../src/registry/rest-store.js';
import { startMlflowTestServer } from '../helpers/mlflow-test-server.js';
import { runStoreContract } from './store.contract.js';

runStoreContract('REST store (loopback MLflow server, proxied artifacts)', async () => {
  const server = await startMlflowTestServer();
  return {
    store: createRestStore(server.url, { retries: 0, timeoutMs: 10_000, env: {} }),
    close: () => server.close(),
    requestCount: () => server.requests.length,
  };
});

runStoreContract('REST store (loopback MLflow server, file:// artifacts, 2-item pages)', async () => {
  const server = await startMlflowTestServer({ artifacts: 'file', pageSize: 2 });
  return {
    store: createRestStore(server.url, { retries: 0, timeoutMs: 10_000, env: {} }),
    close: () => server.close(),
    requestCount: () => server.requests.length,
  };
});
