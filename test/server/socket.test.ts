import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import xxhash from 'xxhash-wasm';
import v8 from 'node:v8';
import { describe, expect, it, vi } from 'vitest';
import { loadSnapshot } from '../../src/pipelines/snapshot-files.js';
import { createRng } from '../../src/random/rng.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { createEventBusOver } from '../../src/events/event-bus.js';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';
import { startServer } from '../../src/server/main.js';
import { keptTickObject } from '../../src/server/tick-shape.js';
import { SERVE_V8_FLAGS } from '../../src/server/v8-settings.js';
import { createRegistryPolicyProvider } from '../../src/server/registry-policies.js';
import { POLICY_STATE_ARTIFACT as POLICY_STATE_PATH } from '../../src/models/policy-artifacts.js';
import { createTipWriter, tipWriterSettingsFromEnv } from '../../src/prompts/tip-writer.js';
import { ARM_COUNT } from '../../src/features/arms.js';
import { tempHome } from '../helpers/temp-home.js';
import { AS_OF, streamOf, T0, testTransport, until } from './harness.js';
import { meanSoftmax, testCatalog } from './mean-softmax-policy.js';
import { writeSyntheticSnapshot } from '../../fixtures/synthetic-snapshot.js';

describe('oo-ml serve over a real socket', () => {
  it('serves a snapshot and registry policy from disk on 127.0.0.1, then drains in-flight requests, whose events are stored before their answer, and checkpoints on shutdown', async () => {
    const home = await tempHome();
    const snapshotId = await writeSyntheticSnapshot(home.snapshots, { users: 50, asOf: AS_OF });
    const store = createFileStore(home.mlruns);
    const exp = await store.getOrCreateExperiment('oo-ml-train');
    const run = await store.createRun(exp.experimentId);
    await store.logArtifact(run.info.runId, POLICY_STATE_PATH, JSON.stringify(meanSoftmax.toJSON(meanSoftmax.init(ARM_COUNT))));
    await store.createRegisteredModel('tip-policy');
    await store.createModelVersion('tip-policy', `runs:/${run.info.runId}/policy`, run.info.runId);
    await store.setAlias('tip-policy', 'champion', 1);

    // The store is held until shutdown has started, so the request is in flight then: it is
    // answered only once its event is durable, and shutdown waits for it.
    let entered!: () => void;
    const handling = new Promise<void>((r) => (entered = r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const transport = testTransport(createEmbeddedTransport(join(home.data, 'bus')));
    transport.beforePublish = () => {
      entered();
      return held;
    };
    const bus = createEventBusOver(transport);
    const stateDir = join(home.data, 'serve');
    const { h32 } = await xxhash();
    const setFlags = vi.spyOn(v8, 'setFlagsFromString');
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      tuneProcess: true,
      deps: {
        policies: createRegistryPolicyProvider({ store, catalog: testCatalog }),
        snapshot: { load: async () => (await loadSnapshot(home.snapshots)).index },
        bus,
        stateDir,
        tipWriter: createTipWriter(tipWriterSettingsFromEnv({}), { hash32: (s) => h32(s) }),
        now: () => T0,
        rng: createRng(3),
        hash32: (s) => h32(s),
      },
    });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // The process shell's settings for a server that idles between bursts (tick-shape.ts, v8-settings.ts).
    expect(keptTickObject()).toBeDefined();
    for (const flag of SERVE_V8_FLAGS) expect(setFlags).toHaveBeenCalledWith(flag);
    setFlags.mockRestore();
    const ready = (await (await fetch(`${server.url}/readyz`)).json()) as Record<string, unknown>;
    expect(ready).toMatchObject({ ready: true, snapshot_id: snapshotId, champion: 'tip-policy@champion', model_version: '1' });

    const inFlight = fetch(`${server.url}/score`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'u4', context: { hour_of_day: 8, tasks: [{ id: 't1' }] } }),
    });
    await handling;
    const closing = server.close();
    // Shutdown has begun (the listener stopped accepting) while the store still holds the event.
    await until(() => !server.app.server.listening, 'the listener to close');
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    // Answered while closing: the connection ends with it, so the client does not send another
    // request on a socket the server is about to close (a reset, not an answer).
    expect(res.headers.get('connection')).toBe('close');
    const decision = (await res.json()) as Record<string, unknown>;
    expect(decision).toMatchObject({ policy: 'tip-policy@champion', model_version: '1', fallbacks: ['day_of_week'] });
    await closing;
    await server.closed;
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    // The event was stored before the answer, and the shutdown wrote a checkpoint that holds it.
    const stream = await streamOf(bus);
    expect(stream.map((m) => (m.ok ? [m.seq, m.event.type, (m.event as { serve_id?: string }).serve_id] : null))).toEqual([[1, 'tip.served', decision['serve_id']]]);
    const checkpoint = JSON.parse(await readFile(join(stateDir, 'checkpoint.json'), 'utf8')) as { fold: { position: number } };
    expect(checkpoint.fold.position).toBe(1);
    await bus.close();
  });
});
