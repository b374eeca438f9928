/**
 * Picks the Store adapter for a tracking URI, as MLflow picks its store by scheme
 * (`mlflow/tracking/_tracking_service/utils.py`): `file:` URIs and plain paths open the on-disk
 * FileStore, `http:`/`https:` the REST API. Anything else (`sqlite:`, `databricks`, …) is not
 * supported by oo-ml and is rejected naming the URI.
 */
import { isAbsolute, resolve } from 'node:path';
import { invalidUsage } from '../errors.js';
import { createFileStore, type FileStoreOptions } from './file-store.js';
import { createRestStore, type RestStoreOptions } from './rest-store.js';
import type { Store } from './store.js';

/** Options for either adapter (each reads the ones it knows). */
export type CreateStoreOptions = FileStoreOptions & RestStoreOptions;

/** Opens the store a Config names: its tracking URI, with the MLflow client settings it read (for an http(s) server). */
export function openStore(config: { trackingUri: string; mlflowClient: () => RestStoreOptions }, options: CreateStoreOptions = {}): Store {
  const remote = /^https?:\/\//i.test(config.trackingUri.trim());
  return createStore(config.trackingUri, remote ? { ...config.mlflowClient(), ...options } : options);
}

/** Opens the store at `trackingUri` (see `Config.trackingUri`). */
export function createStore(trackingUri: string, options: CreateStoreOptions = {}): Store {
  const uri = trackingUri.trim();
  if (uri === '') throw invalidUsage('the tracking URI is empty', { hint: 'set MLFLOW_TRACKING_URI or use the default ./mlruns' });
  if (/^https?:\/\//i.test(uri)) return createRestStore(uri, options);
  // MLflow reads a bare `databricks` as the Databricks workspace, never as a folder name.
  if (uri === 'databricks') throw invalidUsage('tracking URI "databricks" (a Databricks workspace) is not supported', { hint: 'use an http(s):// MLflow server URL or a local path' });
  if (/^file:/i.test(uri)) {
    try {
      const url = new URL(uri);
      if (url.host !== '' && url.host !== 'localhost') throw new Error(`remote host ${url.host}`);
    } catch (e) {
      throw invalidUsage(`tracking URI "${uri}" is not a local file: URI (${e instanceof Error ? e.message : String(e)})`, {
        hint: 'use file:///absolute/path/to/mlruns or a plain path',
      });
    }
    return createFileStore(uri, options);
  }
  // A Windows drive letter ("C:\mlruns") looks like a scheme but is a path.
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(uri)?.[1];
  if (scheme !== undefined && !(scheme.length === 1 && isAbsolute(uri))) {
    throw invalidUsage(`tracking URI "${uri}" uses the unsupported scheme "${scheme}:"`, {
      hint: 'oo-ml supports file: URIs or paths (MLflow FileStore layout) and http(s):// MLflow servers; for a database backend run an MLflow server on it',
    });
  }
  return createFileStore(resolve(uri), options);
}
