import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import xxhash from 'xxhash-wasm';
import { describe, expect, it } from 'vitest';
import { loadSnapshot } from '../../src/pipelines/snapshot-files.js';
import { createRng } from '../../src/random/rng.js';
import { createFileStore } from '../../src/registry/file-store.js';
import type { ServerEvent } from '../../src/server/deps.js';
import { createEventBusOver } from '../../src/events/event-bus.js';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';
import { createBusEventSink } from '../../src/server/bus-event-sink.js';
import { startServer } from '../../src/server/main.js';
import { createRegistryPolicyProvider } from '../../src/server/registry-policies.js';
import { POLICY_STATE_ARTIFACT as POLICY_STATE_PATH } from '../../src/registry/policy-artifacts.js';
import { createTipWriter, tipWriterSettingsFromEnv } from '../../src/prompts/tip-writer.js';
import { ARM_COUNT } from '../../src/features/arms.js';
import { tempHome } from '../helpers/temp-home.js';
import { AS_OF, T0 } from './harness.js';
import { meanSoftmax, testCatalog } from './mean-softmax-policy.js';
import { writeSyntheticSnapshot } from './synthetic-snapshot.js';

describe('oo-ml serve over a real socket', () => {
  it('serves a snapshot and registry policy from disk on 127.0.0.1, then drains in-flight requests and flushes events on shutdown', async () => {
    const home = await tempHome();
    const snapshotId = await writeSyntheticSnapshot(home.snapshots, { users: 50, asOf: AS_OF });
    const store = createFileStore(home.mlruns);
    const exp = await store.getOrCreateExperiment('oo-ml-train');
    const run = await store.createRun(exp.experimentId);
    await store.logArtifact(run.info.runId, POLICY_STATE_PATH, JSON.stringify(meanSoftmax.toJSON(meanSoftmax.init(ARM_COUNT))));
    await store.createRegisteredModel('tip-policy');
    await store.createModelVersion('tip-policy', `runs:/${run.info.runId}/policy`, run.info.runId);
    await store.setAlias('tip-policy', 'champion', 1);

    const busDir = join(home.data, 'bus');
    // A slow bus (each store takes 2.5 s, longer than the close takes by itself), so the event is
    // on disk only if shutdown waits for it.
    const embedded = createEmbeddedTransport(busDir);
    const slow = { ...embedded, publish: (subject: string, data: Uint8Array, id: string) => new Promise((r) => setTimeout(r, 2500)).then(() => embedded.publish(subject, data, id)) };
    const file = createBusEventSink(createEventBusOver(slow), { spillPath: join(home.data, 'serve-unsent.ndjson') });
    // A serve event waits 150 ms, so its request is still in flight when shutdown starts.
    let entered!: () => void;
    const handling = new Promise<void>((r) => (entered = r));
    const events = {
      ...file,
      publish: (s: string, e: ServerEvent) => {
        entered();
        return new Promise<void>((r) => setTimeout(r, 150)).then(() => file.publish(s, e));
      },
    };
    const { h32 } = await xxhash();
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      handleSignals: false,
      deps: {
        policies: createRegistryPolicyProvider({ store, catalog: testCatalog }),
        snapshot: { load: async () => (await loadSnapshot(home.snapshots)).index },
        events,
        tipWriter: createTipWriter(tipWriterSettingsFromEnv({}), { hash32: (s) => h32(s) }),
        now: () => T0,
        rng: createRng(3),
        hash32: (s) => h32(s),
      },
    });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ready = (await (await fetch(`${server.url}/readyz`)).json()) as Record<string, unknown>;
    expect(ready).toMatchObject({ ready: true, snapshot_id: snapshotId, champion: 'tip-policy@champion', model_version: '1' });

    const inFlight = fetch(`${server.url}/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'u4', context: { hour_of_day: 8, tasks: [{ id: 't1' }] } }),
    });
    await handling;
    const closing = server.close();
    const res = await inFlight;
    expect(res.status).toBe(200);
    const decision = (await res.json()) as Record<string, unknown>;
    expect(decision).toMatchObject({ policy: 'tip-policy@champion', model_version: '1', fallbacks: ['day_of_week'] });
    await closing;
    await server.closed;
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    // The server's own shutdown flushed the event (read before the test closes the sink).
    expect(file.queued).toBe(0);
    const lines = (await readFile(join(busDir, 'signals.tip.served.ndjson'), 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'tip.served', serve_id: decision['serve_id'], user_id: 'u4' });
    await file.close();
  });
});
