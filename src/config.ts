/**
 * Environment and flags → one typed Config. Every path oo-ml touches is derived here from the
 * home folder, so commands, the server and tests agree on the layout:
 *
 *   <home>/data/events/<event type>/day=YYYY-MM-DD/events.parquet   event log
 *   <home>/data/users/users.parquet                                user dimension (synth)
 *   <home>/data/warehouse.duckdb                                   offline feature warehouse
 *   <home>/data/features/*.parquet                                 profile features + history
 *   <home>/data/training-set.parquet                               default training set
 *   <home>/data/snapshots/<id>/ + LATEST                           exported snapshots
 *   <home>/mlruns/                                                 MLflow file store
 *   <home>/model-cards/                                            Markdown model cards
 *   <home>/.oo-ml/tmp/                                             temporaries (same device)
 */
import { resolve, join } from 'node:path';
import { invalidUsage } from './errors.js';
import { tipWriterSettingsFromEnv, type TipWriterSettings } from './prompts/tip-writer.js';
import { httpSettingsFromEnv, type RestClientOptions } from './registry/rest-client.js';

/** Resolved paths of one oo-ml home. */
export interface HomePaths {
  home: string;
  data: string;
  /** The embedded bus's streams and consumers (`oo-ml serve`, `oo-ml ingest`). */
  bus: string;
  /** A replica's own folder by default (`oo-ml serve --state-dir`): its spill, serve window, checkpoint. */
  serveState: string;
  events: string;
  users: string;
  warehouse: string;
  features: string;
  trainingSet: string;
  snapshots: string;
  mlruns: string;
  modelCards: string;
  tmp: string;
}

/** Everything a command or the server needs from the environment. */
export interface Config {
  paths: HomePaths;
  /** `file:` store under <home>/mlruns unless MLFLOW_TRACKING_URI names an http(s) server. */
  trackingUri: string;
  natsUrl: string | undefined;
  /** NATS_STREAM_REPLICAS: replicas of the JetStream streams oo-ml creates (1–5; 3 on a 3-node cluster); the bus's, so checked on first use. */
  natsStreamReplicas: () => number | undefined;
  /** OO_ML_BUS_SYNC_MS: the embedded bus's fdatasync policy (0: before each publish is acknowledged; default 1000 ms after a write); checked on first use. */
  busSyncMs: () => number | undefined;
  llmBaseUrl: string | undefined;
  /**
   * The tip writer's settings: DEFAULT_PROMPT_VERSION, TIP_PROMPT_VERSION, LLM_BASE_URL, LLM_MODEL,
   * LLM_API_KEY, LLM_TIMEOUT_MS. Read with the rest, checked on first use (so a typo fails the
   * commands that write tips, not every command), then kept.
   */
  tipWriter: () => TipWriterSettings;
  /**
   * The MLflow client's settings: MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD and
   * MLflow's MLFLOW_HTTP_REQUEST_* variables; checked on first use, then kept.
   */
  mlflowClient: () => RestClientOptions;
  /** OO_ML_ADMIN_TOKEN: the bearer token of `/admin/*` (unset: the admin routes are closed). */
  adminToken: string | undefined;
  /** LOG_LEVEL of the server's logger (default info): the server's alone, so checked on first use. */
  logLevel: () => LogLevel;
  /** NODE_OPTIONS, Node's own: read only to tell whether a server confined to one core set V8's pool size (server/v8-settings.ts). */
  nodeOptions: string | undefined;
}

/** The levels of the server's logger (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The paths of the home folder `home` (relative paths resolve against the working folder). */
export function homePaths(home: string): HomePaths {
  const root = resolve(home);
  const data = join(root, 'data');
  return {
    home: root,
    data,
    bus: join(data, 'bus'),
    serveState: join(data, 'serve'),
    events: join(data, 'events'),
    users: join(data, 'users'),
    warehouse: join(data, 'warehouse.duckdb'),
    features: join(data, 'features'),
    trainingSet: join(data, 'training-set.parquet'),
    snapshots: join(data, 'snapshots'),
    mlruns: join(root, 'mlruns'),
    modelCards: join(root, 'model-cards'),
    tmp: join(root, '.oo-ml', 'tmp'),
  };
}

/**
 * Builds the Config from a home folder and an environment (defaults to process.env): the one
 * place oo-ml reads its environment variables (README, "Configuration").
 */
export function loadConfig(home: string, env: NodeJS.ProcessEnv = process.env): Config {
  const paths = homePaths(home);
  const tracking = env['MLFLOW_TRACKING_URI']?.trim();
  // Copied now: what is read later (on first use) is what the process started with.
  const read = (names: readonly string[]): Record<string, string | undefined> => Object.fromEntries(names.map((n) => [n, env[n]]));
  const writerEnv = read(['DEFAULT_PROMPT_VERSION', 'TIP_PROMPT_VERSION', 'LLM_BASE_URL', 'LLM_MODEL', 'LLM_API_KEY', 'LLM_TIMEOUT_MS']);
  const mlflowEnv = read(['MLFLOW_TRACKING_TOKEN', 'MLFLOW_TRACKING_USERNAME', 'MLFLOW_TRACKING_PASSWORD', 'MLFLOW_HTTP_REQUEST_MAX_RETRIES', 'MLFLOW_HTTP_REQUEST_TIMEOUT', 'MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR', 'MLFLOW_HTTP_REQUEST_BACKOFF_JITTER']);
  const logLevelText = nonEmpty(env['LOG_LEVEL']);
  const replicasText = nonEmpty(env['NATS_STREAM_REPLICAS']);
  const syncText = nonEmpty(env['OO_ML_BUS_SYNC_MS']);
  let tipWriter: TipWriterSettings | undefined;
  let mlflowClient: RestClientOptions | undefined;
  return {
    paths,
    trackingUri: tracking !== undefined && tracking !== '' ? tracking : `file://${paths.mlruns}`,
    natsUrl: nonEmpty(env['NATS_URL']),
    natsStreamReplicas: () => streamReplicas(replicasText),
    busSyncMs: () => busSyncMs(syncText),
    llmBaseUrl: nonEmpty(env['LLM_BASE_URL']),
    tipWriter: () => (tipWriter ??= tipWriterSettingsFromEnv(writerEnv)),
    mlflowClient: () => {
      if (mlflowClient === undefined) {
        httpSettingsFromEnv(mlflowEnv); // checked here, named by variable
        mlflowClient = { env: mlflowEnv };
      }
      return mlflowClient;
    },
    adminToken: nonEmpty(env['OO_ML_ADMIN_TOKEN']),
    logLevel: () => logLevel(logLevelText),
    nodeOptions: nonEmpty(env['NODE_OPTIONS']),
  };
}

/** LOG_LEVEL checked against the logger's levels. */
function logLevel(raw: string | undefined): LogLevel {
  if (raw === undefined) return 'info';
  const level = raw.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw invalidUsage(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  }
  return level as LogLevel;
}

/** NATS_STREAM_REPLICAS checked: JetStream allows 1 to 5 replicas. */
function streamReplicas(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 5) {
    throw invalidUsage(`NATS_STREAM_REPLICAS must be an integer from 1 to 5, got "${raw}"`, {
      hint: 'set it to the number of JetStream servers that keep each stream (3 on a 3-node cluster), or unset it for 1',
    });
  }
  return n;
}

/** OO_ML_BUS_SYNC_MS checked: whole milliseconds from 0 to 60 000. */
function busSyncMs(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > 60_000) {
    throw invalidUsage(`OO_ML_BUS_SYNC_MS must be whole milliseconds from 0 to 60000, got "${raw}"`, {
      hint: '0 fdatasyncs the embedded bus before each publish is acknowledged; N syncs at most N ms after a write (default 1000)',
    });
  }
  return n;
}

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t === undefined || t === '' ? undefined : t;
}
