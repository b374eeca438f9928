/** The one Config: every variable read once, checked, each service's checked on first use. */
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('derives every path from the home, and reads the variables it is given (not the process environment)', () => {
    const c = loadConfig('some-home', { OO_ML_ADMIN_TOKEN: ' t0k ', LOG_LEVEL: 'WARN', LLM_BASE_URL: 'http://127.0.0.1:1/v1', LLM_MODEL: 'm', DEFAULT_PROMPT_VERSION: 'v2' });
    const home = resolve('some-home');
    expect(c.paths).toMatchObject({ home, bus: join(home, 'data', 'bus'), serveState: join(home, 'data', 'serve'), mlruns: join(home, 'mlruns'), tmp: join(home, '.oo-ml', 'tmp') });
    expect(c.trackingUri).toBe(`file://${join(home, 'mlruns')}`);
    expect([c.adminToken, c.logLevel(), c.natsUrl]).toEqual(['t0k', 'warn', undefined]);
    expect(c.tipWriter()).toMatchObject({ prompts: { defaultVersion: 'v2', rotation: [] }, llm: { baseUrl: 'http://127.0.0.1:1/v1', model: 'm', timeoutMs: 5000 } });
    expect(loadConfig('h', {}).tipWriter()).toMatchObject({ llm: null });
  });

  it('refuses a bad value naming the variable, on first use of the service it configures', () => {
    // A typo in the tip writer's, the MLflow client's, the bus's or the server's variables does not stop other commands…
    const c = loadConfig('h', { LLM_BASE_URL: 'http://x/v1', MLFLOW_HTTP_REQUEST_TIMEOUT: 'soon', LOG_LEVEL: 'loud', NATS_STREAM_REPLICAS: '9', OO_ML_BUS_SYNC_MS: 'soon' });
    expect(c.paths.home).toBe(resolve('h'));
    // …and is refused, named, where the service is used.
    expect(() => c.tipWriter()).toThrow(expect.objectContaining({ code: 'invalid_usage', message: expect.stringContaining('LLM_MODEL') }));
    expect(() => c.natsStreamReplicas()).toThrow(expect.objectContaining({ code: 'invalid_usage', message: expect.stringContaining('NATS_STREAM_REPLICAS') }));
    expect(() => c.busSyncMs()).toThrow(expect.objectContaining({ code: 'invalid_usage', message: expect.stringContaining('OO_ML_BUS_SYNC_MS') }));
    expect(() => c.logLevel()).toThrow(expect.objectContaining({ code: 'invalid_usage', message: expect.stringContaining('LOG_LEVEL') }));
    expect(() => c.mlflowClient()).toThrow(expect.objectContaining({ code: 'invalid_usage', message: expect.stringContaining('MLFLOW_HTTP_REQUEST_TIMEOUT') }));
  });

  it('keeps what it read: a later change to the environment is not seen', () => {
    const env: NodeJS.ProcessEnv = { MLFLOW_TRACKING_TOKEN: 'a' };
    const c = loadConfig('h', env);
    env['MLFLOW_TRACKING_TOKEN'] = 'b';
    expect(c.mlflowClient().env).toMatchObject({ MLFLOW_TRACKING_TOKEN: 'a' });
  });
});
