import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isOoMlError } from '../../src/errors.js';
import { createStore } from '../../src/registry/create-store.js';
import { errorCodeFor, MLFLOW_ERROR_CODES, mlflowCodeForStatus } from '../../src/registry/mlflow-error-codes.js';

describe('createStore picks the adapter by scheme', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'oo-ml-create-store-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('opens file: URIs and plain paths as the file store', async () => {
    const viaUri = createStore(pathToFileURL(join(home, 'a')).href);
    expect(viaUri.kind).toBe('file');
    await viaUri.getOrCreateExperiment('x');
    expect((await stat(join(home, 'a', '0', 'meta.yaml'))).isFile()).toBe(true);
    const viaPath = createStore(join(home, 'b'));
    expect(viaPath).toMatchObject({ kind: 'file', uri: pathToFileURL(join(home, 'b')).href });
  });

  it('opens http(s) URLs as the REST store', () => {
    expect(createStore('http://127.0.0.1:5000/').kind).toBe('rest');
    expect(createStore('https://mlflow.example.test').uri).toBe('https://mlflow.example.test');
  });

  it('rejects other schemes as invalid_usage naming the URI', () => {
    for (const uri of ['sqlite:///mlflow.db', 'databricks', 'databricks://profile', 'postgresql://u@h/db', 'file://remote-host/mlruns', '']) {
      let caught: unknown;
      try {
        createStore(uri);
      } catch (e) {
        caught = e;
      }
      expect(isOoMlError(caught, 'invalid_usage'), uri).toBe(true);
      if (uri !== '') expect((caught as Error).message).toContain(uri);
    }
  });
});

describe('MLflow error-code table', () => {
  it('maps codes to OoMlError codes and statuses as the REST contract lists them', () => {
    expect(MLFLOW_ERROR_CODES.RESOURCE_ALREADY_EXISTS).toEqual({ http: 400, code: 'already_exists' });
    expect(errorCodeFor('RESOURCE_DOES_NOT_EXIST', 404)).toBe('not_found');
    expect(errorCodeFor('INVALID_PARAMETER_VALUE', 400)).toBe('invalid_input');
    expect(errorCodeFor('PERMISSION_DENIED', 403)).toBe('unavailable');
    expect(errorCodeFor('SOMETHING_NEW', 502)).toBe('unavailable');
    expect(errorCodeFor('SOMETHING_NEW', 409)).toBe('conflict');
    expect(mlflowCodeForStatus(400)).toBe('BAD_REQUEST');
    expect(mlflowCodeForStatus(404)).toBe('ENDPOINT_NOT_FOUND');
    expect(mlflowCodeForStatus(500)).toBe('INTERNAL_ERROR');
    expect(mlflowCodeForStatus(503)).toBe('TEMPORARILY_UNAVAILABLE');
    expect(mlflowCodeForStatus(429)).toBe('REQUEST_LIMIT_EXCEEDED');
  });
});
