import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { assign } from '../../src/experiments/assignment.js';
import { experimentsFile, readExperiments } from '../../src/server/experiments-source.js';
import { notFound } from '../../src/errors.js';
import { OO_ML_VERSION } from '../../src/version.js';
import { AS_OF, closingHarness, get, hash32, post, until, type Harness } from './harness.js';
import { syntheticSnapshotIndex } from '../../fixtures/synthetic-snapshot.js';

const harness = closingHarness();
const TOKEN = { authorization: 'Bearer s3cret' };
const missingSnapshot = () => notFound('no snapshot at /x/snapshots (neither manifest.json nor LATEST)', { hint: 'run `oo-ml features export` first' });

/** Holds the next snapshot load of `h` (a retry's) until released, then loads snapshot `id`; resolves once a retry is loading. */
async function holdRetriedLoad(h: Harness, id: string): Promise<() => void> {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let retrying = false;
  h.deps.snapshot.load = () => {
    retrying = true;
    return held.then(() => syntheticSnapshotIndex({ users: 10, asOf: AS_OF, id }));
  };
  await until(() => retrying, 'a retry to be loading');
  return release;
}

describe('health and readiness', () => {
  it('starts without a snapshot: /healthz 200, /readyz and /score 503 with the reason, ready after a reload', async () => {
    const h = await harness({ snapshot: missingSnapshot(), deps: { adminToken: 's3cret' } });
    expect(await get(h.app, '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    const ready = await get(h.app, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ error: 'unavailable', message: 'not ready: no feature snapshot loaded: no snapshot at /x/snapshots (neither manifest.json nor LATEST)' });
    const score = await post(h.app, '/score', { user_id: 'u1' });
    expect(score.status).toBe(503);
    // An app is told what is missing; the cause, which names the server's paths, is /readyz's.
    expect(score.body).toMatchObject({ message: 'cannot score: not ready: no feature snapshot loaded', details: { reasons: ['no feature snapshot loaded'] }, hint: expect.stringMatching(/^GET \/readyz names the causes/) });
    expect((await get(h.app, '/metrics')).text).toContain('oo_ml_ready 0');
    // Started, though not ready: only what answers while a replica starts says 1 (starting.ts).
    expect((await get(h.app, '/metrics')).text).toMatch(/^oo_ml_starting 0$/m);
    expect((await get(h.app, '/stats')).body['not_ready']).toEqual(['no feature snapshot loaded: no snapshot at /x/snapshots (neither manifest.json nor LATEST)']);
    expect((await get(h.app, '/metrics')).text).toMatch(/^oo_ml_snapshot_age_seconds nan$/im);

    h.snapshot.next = syntheticSnapshotIndex({ users: 10, asOf: AS_OF, id: 'snap-b' });
    const reload = await post(h.app, '/admin/reload', {}, TOKEN);
    expect(reload.status).toBe(200);
    expect(reload.body).toMatchObject({ reloaded: true, snapshot_id: 'snap-b', ready: true, reasons: [], policies: [{ name: 'tip-policy@champion', model_version: '1', layout: 'v2' }] });
    expect(await get(h.app, '/readyz')).toMatchObject({ status: 200, body: { ready: true, snapshot_id: 'snap-b', champion: 'tip-policy@champion', model_version: '1' } });
    expect((await post(h.app, '/score', { user_id: 'u1' })).status).toBe(200);
    expect((await get(h.app, '/stats')).body['not_ready']).toEqual([]);
  });

  it('retries what it could not load and is ready once it can, without a reload by hand', async () => {
    let loads = 0;
    const h = await harness({ snapshot: missingSnapshot(), deps: { limits: { reloadRetryMs: 10 } } });
    const load = h.deps.snapshot.load;
    h.deps.snapshot.load = () => (++loads, load());
    await until(() => loads >= 2, 'two retries while the snapshot is missing');
    expect((await get(h.app, '/readyz')).status).toBe(503);
    h.snapshot.next = syntheticSnapshotIndex({ users: 10, asOf: AS_OF, id: 'snap-late' });
    await until(async () => (await get(h.app, '/readyz')).status === 200, 'ready once the snapshot can be loaded');
    expect(await get(h.app, '/readyz')).toMatchObject({ body: { snapshot_id: 'snap-late' } });
    expect((await post(h.app, '/score', { user_id: 'u1' })).status).toBe(200);
    // The reload logs once its checkpoint is written, after the swap readiness saw.
    await until(() => h.logs.some((l) => l.includes('"msg":"reloaded"') && l.includes('snap-late')), 'the retry that loaded it in the log');
  });

  it('lets a reload by hand wait for a retry in flight rather than refusing it (409)', async () => {
    const h = await harness({ snapshot: missingSnapshot(), deps: { adminToken: 's3cret', limits: { reloadRetryMs: 10 } } });
    const release = await holdRetriedLoad(h, 'snap-by-hand');
    // Released once the reload by hand has asked while the retry still runs.
    let asked = false;
    const reload = h.app.ooMl.reload;
    h.app.ooMl.reload = () => {
      asked = true;
      return reload();
    };
    const byHand = post(h.app, '/admin/reload', {}, TOKEN);
    await until(() => asked, 'the reload by hand to have asked');
    release();
    expect(await byHand).toMatchObject({ status: 200, body: { reloaded: true, snapshot_id: 'snap-by-hand', ready: true } });
  });

  it('closes only once a retry in flight is over: nothing it does comes after online learning lets its state folder go', async () => {
    const h = await harness({ snapshot: missingSnapshot(), deps: { limits: { reloadRetryMs: 10 } } });
    const release = await holdRetriedLoad(h, 'snap-too-late');
    // What the retry had logged when online learning began to close (and to let its folder go).
    const late = () => h.logs.filter((l) => l.includes('snap-too-late')).length;
    let lateAtClose: number | null = null;
    const learning = h.app.ooMl.learning;
    const closeLearning = learning.close.bind(learning);
    learning.close = () => {
      lateAtClose = late();
      return closeLearning();
    };
    const closing = h.app.close();
    release();
    await closing;
    // Whether the retry gave up or finished, it was over before: nothing after it wrote the folder.
    expect(lateAtClose).toBe(late());
  });

  it('warns loudly in /readyz when the snapshot is past its features’ TTL (every /score would fall back on them)', async () => {
    const fresh = await harness({});
    expect((await get(fresh.app, '/readyz')).body['warnings']).toEqual([]);
    // Eight days after the snapshot's as-of: past the 1-day and the 7-day TTLs.
    const stale = await harness({ clockMs: AS_OF.getTime() + 8 * 86_400_000 });
    const ready = await get(stale.app, '/readyz');
    expect(ready.status).toBe(200);
    const warnings = ready.body['warnings'] as string[];
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^snapshot \S+ is 192\.0 h old \(as of 2026-02-05T11:00:00\.000Z\): past the TTL of completion_rate, .*preferred_hour.*, so every \/score falls back on them; build and export one from recent events .* then restart the server, or POST \/admin\/reload with OO_ML_ADMIN_TOKEN set$/);
    const scored = await post(stale.app, '/score', { user_id: 'u1' });
    expect(scored.body['fallbacks']).toEqual(expect.arrayContaining(['completion_rate', 'preferred_hour']));
    // Said at start too, not only to whoever asks /readyz.
    expect(stale.logs.some((l) => l.includes('"level":"warn"') && l.includes('is 192.0 h old') && l.includes('past the TTL of'))).toBe(true);
    expect(fresh.logs.some((l) => l.includes('past the TTL of'))).toBe(false);
    const metrics = (await get(stale.app, '/metrics')).text;
    expect(metrics).toMatch(/^oo_ml_snapshot_age_seconds 691200$/m);
    expect(Number(/^oo_ml_snapshot_stale_features (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(2);
    expect((await get(fresh.app, '/metrics')).text).toMatch(/^oo_ml_snapshot_stale_features 0$/m);
  });

  it('is not ready while neither the bus nor the local spill takes an event, and ready again once the spill does; says when a checkpoint failed', async () => {
    const h = await harness({ deps: { adminToken: 's3cret' } });
    h.transport.setConnected(false);
    // A directory where the spill file goes: its append fails even for root (as a read-only or full disk would).
    const spill = join(h.dir, 'state', 'spill.ndjson');
    await mkdir(spill, { recursive: true });
    expect((await post(h.app, '/score', { user_id: 'u1' })).status).toBe(503);
    const ready = await get(h.app, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body['message']).toMatch(/not ready: events cannot be recorded: the embedded bus does not take them and the local spill failed \(.*EISDIR/);
    // The metric an alert reads says what /readyz says.
    expect((await get(h.app, '/metrics')).text).toMatch(/^oo_ml_ready 0$/m);
    await rm(spill, { recursive: true });
    // The bus back, and no request meanwhile (a balancer sends none to a replica not ready): ready again.
    h.transport.setConnected(true);
    await until(async () => (await get(h.app, '/readyz')).status === 200, 'ready once the bus is back');
    expect((await post(h.app, '/score', { user_id: 'u1' })).status).toBe(200);
    // A checkpoint that cannot be written (a folder in its place) shows in /readyz, not only in the log.
    await mkdir(join(h.dir, 'state', 'checkpoint.json', 'in-the-way'), { recursive: true });
    expect((await post(h.app, '/admin/reload', {}, TOKEN)).status).toBe(200);
    expect(((await get(h.app, '/readyz')).body['warnings'] as string[]).join(' ')).toContain('the last online-learning checkpoint could not be written');
    expect((await get(h.app, '/metrics')).text).toMatch(/^oo_ml_checkpoint_failing 1$/m);
    await rm(join(h.dir, 'state', 'checkpoint.json'), { recursive: true });
    expect((await post(h.app, '/admin/reload', {}, TOKEN)).status).toBe(200);
    expect((await get(h.app, '/metrics')).text).toMatch(/^oo_ml_checkpoint_failing 0$/m);
  });

  it('starts without a champion and says why', async () => {
    const h = await harness({ policies: {} });
    const ready = await get(h.app, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body['message']).toBe('not ready: champion policy "tip-policy@champion" is not loaded: no alias champion');
    expect((await post(h.app, '/score', { user_id: 'u1' })).body['message']).toContain('policy "tip-policy@champion" is not loaded');
  });
});

describe('logs', () => {
  it('are JSON lines with the level by name and an ISO time; debug adds a line per request; a refused admin request is a warning naming the client', async () => {
    const lines: string[] = [];
    const h = await harness({ deps: { adminToken: 's3cret', logger: { level: 'debug', stream: { write: (l: string) => void lines.push(l) } } } });
    expect((await post(h.app, '/score', { user_id: 'u1' })).status).toBe(200);
    expect((await post(h.app, '/admin/reset', {}, { authorization: 'Bearer nope' })).status).toBe(401);
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const answered = records.filter((r) => r['msg'] === 'answered');
    expect(answered.map((r) => [r['level'], r['method'], r['url'], r['status'], r['remoteAddress']])).toEqual([
      ['debug', 'POST', '/score', 200, '127.0.0.1'],
      ['debug', 'POST', '/admin/reset', 401, '127.0.0.1'],
    ]);
    expect(answered[0]!['ms']).toEqual(expect.any(Number));
    expect(records.find((r) => r['msg'] === 'admin request refused: missing or wrong token')).toMatchObject({ level: 'warn', remoteAddress: '127.0.0.1', url: '/admin/reset' });
    for (const r of records) expect(new Date(r['time'] as string).toISOString()).toBe(r['time']);
    // At the default level (warn) no request is logged.
    const quiet: string[] = [];
    const q = await harness({ deps: { logger: { stream: { write: (l: string) => void quiet.push(l) } } } });
    expect((await post(q.app, '/score', { user_id: 'u1' })).status).toBe(200);
    expect(quiet.filter((l) => l.includes('"answered"'))).toEqual([]);
  });
});

describe('admin endpoints', () => {
  it('are disabled (404) without a configured token and refuse a missing or wrong token (401)', async () => {
    const off = await harness();
    const r = await post(off.app, '/admin/reload', {});
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ error: 'not_found', message: '/admin/reload is disabled', hint: 'set OO_ML_ADMIN_TOKEN to enable the admin endpoints' });
    const on = await harness({ deps: { adminToken: 's3cret' } });
    expect((await post(on.app, '/admin/reset', {})).status).toBe(401);
    const wrong = await post(on.app, '/admin/reset', {}, { authorization: 'Bearer nope' });
    expect(wrong).toMatchObject({ status: 401, body: { error: 'unauthorized', message: 'missing or wrong admin token' } });
    expect((await post(on.app, '/admin/reset', {}, TOKEN)).status).toBe(200);
  });

  it("records a reset's reason on its learning.reset event, takes no body at all, and refuses unknown fields", async () => {
    const h = await harness({ deps: { adminToken: 's3cret' } });
    const resets = () => h.published.filter((p) => p.event.type === 'learning.reset').map((p) => (p.event as { reason: string | null }).reason);
    expect((await post(h.app, '/admin/reset', { reason: 'bad prompt rollout' }, TOKEN)).status).toBe(200);
    const bare = await h.app.inject({ method: 'POST', url: '/admin/reset', headers: TOKEN });
    expect(bare.statusCode, bare.body).toBe(200);
    // An empty body typed JSON, as `curl -X POST -H 'content-type: application/json'` sends, is no body too.
    const typed = await h.app.inject({ method: 'POST', url: '/admin/reset', headers: { ...TOKEN, 'content-type': 'application/json' }, payload: '' });
    expect(typed.statusCode, typed.body).toBe(200);
    await until(() => resets().length === 3, 'the three resets to be recorded');
    expect(resets()).toEqual(['bad prompt rollout', null, null]);
    // So for /admin/reload, which takes no body; /score, which needs one, still refuses it.
    const reload = await h.app.inject({ method: 'POST', url: '/admin/reload', headers: { ...TOKEN, 'content-type': 'application/json' }, payload: '' });
    expect(reload.statusCode, reload.body).toBe(200);
    const score = await h.app.inject({ method: 'POST', url: '/score', headers: { 'content-type': 'application/json' }, payload: '' });
    expect([score.statusCode, score.json()['message']]).toEqual([400, 'body is empty: send a JSON object']);
    const unknown = await post(h.app, '/admin/reset', { why: 'x' }, TOKEN);
    expect([unknown.status, unknown.body['message']]).toEqual([400, 'body is invalid: /why: unknown field']);
    expect((await post(h.app, '/admin/reset', { reason: 'x'.repeat(501) }, TOKEN)).status).toBe(400);
  });

  it('swaps snapshot and policies atomically while requests are being served', async () => {
    const h = await harness({ deps: { adminToken: 's3cret' } });
    let reloads = 0;
    // Each load yields to the event loop several times, so requests interleave with the build.
    h.deps.snapshot.load = async () => {
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      return syntheticSnapshotIndex({ users: 100, asOf: AS_OF, id: `snap-${++reloads}` });
    };
    const scores: Promise<{ status: number; body: Record<string, unknown> }>[] = [];
    const admin: Promise<{ status: number; body: Record<string, unknown> }>[] = [];
    for (let round = 0; round < 3; round++) {
      h.policies.specs['tip-policy@champion'] = { version: String(round + 2) };
      admin.push(post(h.app, '/admin/reload', {}, TOKEN).then(async (r) => r));
      for (let i = 0; i < 100; i++) scores.push(post(h.app, '/score', { user_id: `u${i}`, context: { hour_of_day: i % 24 } }));
      await admin.at(-1);
    }
    const results = await Promise.all(scores);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    // Requests ran before, during and after the swaps: several versions answered, none failed.
    const versions = new Set(results.map((r) => r.body['model_version']));
    expect(versions.size).toBeGreaterThan(1);
    expect((await Promise.all(admin)).map((r) => r.status)).toEqual([200, 200, 200]);
    expect((await get(h.app, '/readyz')).body).toMatchObject({ snapshot_id: 'snap-3', model_version: '4' });
  });

  it('reads the experiments file again at a reload: new weights move users, a policy it newly names is loaded, a broken file keeps the experiments before it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oo-ml-experiments-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'experiments.yaml');
    const write = (treatment: string, weight: number) =>
      writeFile(file, `experiments:\n  - name: ramp\n    salt: s\n    variants:\n      - { name: control, weight: ${100 - weight}, policy: tip-policy@champion }\n      - { name: treatment, weight: ${weight}, policy: ${treatment} }\n`);
    await write('alt', 10);
    const h = await harness({
      policies: { 'tip-policy@champion': { version: '1' }, alt: { version: '9' }, other: { version: '4' } },
      deps: { experiments: experimentsFile(file), adminToken: 's3cret' },
    });
    const users = Array.from({ length: 200 }, (_, i) => `u${i}`);
    const variants = async () => {
      const got = new Map<string, number>();
      for (const u of users) {
        const r = await post(h.app, '/score', { user_id: u });
        const key = `${r.body['variant']}:${r.body['policy']}`;
        got.set(key, (got.get(key) ?? 0) + 1);
      }
      return got;
    };
    const config = async () => readExperiments(file);
    const expected = async () => {
      const c = await config();
      const got = new Map<string, number>();
      for (const u of users) {
        const a = assign(c, u, hash32, 'tip-policy@champion');
        got.set(`${a.variant}:${a.policy}`, (got.get(`${a.variant}:${a.policy}`) ?? 0) + 1);
      }
      return got;
    };
    const at10 = await variants();
    expect(at10).toEqual(await expected());
    // Ramped to 60 %, its treatment now another policy: taken at the reload, no restart.
    await write('other', 60);
    expect((await post(h.app, '/admin/reload', {}, TOKEN)).status).toBe(200);
    const at60 = await variants();
    expect(at60).toEqual(await expected());
    expect(at60.get('treatment:other')).toBeGreaterThan(at10.get('treatment:alt')!);
    // A file that no longer checks: the reload says so, naming it, and the ramp stays as it was.
    await writeFile(file, 'experiments:\n  - name: ramp\n    salt: s\n    variants: []\n');
    const broken = await post(h.app, '/admin/reload', {}, TOKEN);
    expect(broken.status).toBe(503);
    expect(broken.body['message']).toContain(file);
    expect(await variants()).toEqual(at60);
    const ready = await get(h.app, '/readyz');
    expect(ready.status).toBe(200);
    expect((ready.body['warnings'] as string[]).join(' ')).toContain(`kept the previous experiments: `);
    // One that names a policy the server cannot load (a typo in an alias) would take its users out of service: kept too.
    await write('tip-policy@nosuch', 60);
    const typo = await post(h.app, '/admin/reload', {}, TOKEN);
    expect([typo.status, typo.body['message']]).toEqual([503, expect.stringContaining('the new experiments need "tip-policy@nosuch"')]);
    expect(await variants()).toEqual(at60);
    expect((await get(h.app, '/readyz')).status).toBe(200);
    // Another experiment with variants of the same names: its serves get rows of their own.
    await writeFile(file, (await readFile(file, 'utf8')).replace('name: ramp', 'name: ramp-2').replace('tip-policy@nosuch', 'other'));
    expect((await post(h.app, '/admin/reload', {}, TOKEN)).status).toBe(200);
    await variants();
    const rows = ((await get(h.app, '/stats')).body['policies'] as { experiment: string | null; variant: string | null; serves: number }[]).filter((r) => r.variant === 'control');
    expect(rows.map((r) => [r.experiment, r.serves]).sort()).toEqual([
      ['ramp', at10.get('control:tip-policy@champion')! + at60.get('control:tip-policy@champion')! * 3],
      ['ramp-2', at60.get('control:tip-policy@champion')!],
    ]);
  });

  it('is not ready when its experiments could not be read at start (serving everyone the champion would end them unseen)', async () => {
    const h = await harness({ deps: { experiments: { load: () => Promise.reject(new Error('experiments.yaml: no such file')) } } });
    const ready = await get(h.app, '/readyz');
    expect([ready.status, ready.body['message']]).toEqual([503, expect.stringContaining('no experiments loaded: experiments.yaml: no such file')]);
  });

  it('keeps the previous snapshot when a reload cannot load the new one (503 naming it), and refuses overlapping reloads', async () => {
    const h = await harness({ deps: { adminToken: 's3cret' } });
    h.snapshot.next = new Error('snapshot data file /x/profiles.arrow is corrupt');
    h.policies.specs['tip-policy@champion'] = { version: '5' };
    const r = await post(h.app, '/admin/reload', {}, TOKEN);
    expect(r.status).toBe(503);
    expect(r.body['message']).toBe('reload kept the previous version of what failed to load: snapshot: snapshot data file /x/profiles.arrow is corrupt');
    const ready = await get(h.app, '/readyz');
    expect(ready.body).toMatchObject({ ready: true, snapshot_id: 'snap-synthetic-100', model_version: '5' });
    expect((ready.body['warnings'] as string[])[0]).toContain('kept snapshot snap-synthetic-100');

    const next = syntheticSnapshotIndex({ users: 5, asOf: AS_OF, id: 'snap-c' });
    // The first reload's snapshot load is held until the second reload has been answered.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    h.deps.snapshot.load = () => held.then(() => next);
    const reloads = [post(h.app, '/admin/reload', {}, TOKEN), post(h.app, '/admin/reload', {}, TOKEN)];
    const refused = await Promise.race(reloads);
    expect(refused.status).toBe(409);
    release();
    const answers = await Promise.all(reloads);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 409]);
  });

  it('exposes Prometheus metrics and an OpenAPI document with every route', async () => {
    const h = await harness({ policies: { 'tip-policy@champion': { version: '1' }, 'tip-policy@shadow': { version: '2' } }, shadows: ['tip-policy@shadow'] });
    const s = await post(h.app, '/score', { user_id: 'u1' });
    await post(h.app, '/reward', { serve_id: s.body['serve_id'], reaction: 'liked' });
    await post(h.app, '/score', { user_id: 'u1', hour: 3 });
    await until(() => h.published.some((p) => p.event.type === 'tip.served' && p.event.shadow), 'the shadow serve to be stored');
    const metrics = await get(h.app, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('oo_ml_http_requests_total{method="POST",route="/score",status="200"} 1');
    expect(metrics.text).toContain('oo_ml_http_requests_total{method="POST",route="/score",status="400"} 1');
    expect(metrics.text).toContain('oo_ml_http_request_duration_seconds_count{method="POST",route="/score",status="200"} 1');
    expect(metrics.text).toContain('oo_ml_serves_total{policy="tip-policy@champion",variant="none"} 1');
    expect(metrics.text).toContain('oo_ml_shadow_serves_total{policy="tip-policy@shadow"} 1');
    expect(metrics.text).toContain('oo_ml_reward_calls_total{policy="tip-policy@champion",outcome="applied"} 1');
    expect(metrics.text).toContain('oo_ml_fold_rewards_total{outcome="applied"} 1');
    expect(metrics.text).toContain('oo_ml_event_bus_connected 1');
    expect(metrics.text).toContain('oo_ml_event_bus_degraded 0');
    expect(metrics.text).toContain('oo_ml_spill_backlog 0');
    expect(metrics.text).toContain('oo_ml_ready 1');
    expect(metrics.text).toContain(`oo_ml_build_info{version="${OO_ML_VERSION}"} 1`);
    expect(metrics.text).toMatch(/^oo_ml_checkpoint_failing 0$/m);
    expect(metrics.text).toMatch(/^oo_ml_state_lock_lost 0$/m);
    expect(metrics.text).toContain('process_resident_memory_bytes');

    const docs = await get(h.app, '/docs/json');
    const paths = docs.body['paths'] as Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
    expect(Object.keys(paths).sort()).toEqual(['/admin/reload', '/admin/reset', '/generate', '/healthz', '/metrics', '/readyz', '/reward', '/score', '/stats']);
    for (const p of ['/score', '/reward', '/generate']) {
      expect(paths[p]!['post']!.requestBody).toBeDefined();
      expect(Object.keys(paths[p]!['post']!.responses).sort()).toEqual(['200', '4XX', '5XX']);
    }
    const body = (paths['/score']!['post']!.requestBody as { content: Record<string, { schema: { properties: Record<string, unknown>; additionalProperties: boolean } }> }).content['application/json']!.schema;
    expect(body.additionalProperties).toBe(false);
    expect(Object.keys(body.properties)).toEqual(['user_id', 'arms', 'context', 'profile_features', 'policy']);
    // What the schemas cannot say: /metrics is Prometheus text, as it is answered; a reset takes no body as well.
    const metricsContent = (paths['/metrics']!['get']!.responses['200'] as { content: Record<string, unknown> }).content;
    const answered = await h.app.inject({ method: 'GET', url: '/metrics' });
    expect(Object.keys(metricsContent)).toEqual(['text/plain']);
    expect(answered.headers['content-type']).toMatch(/^text\/plain;/);
    expect(paths['/admin/reset']!['post']!.requestBody).toMatchObject({ required: false });

    // A browsable page, whose every script, style and image is served here: nothing from the network.
    const page = await h.app.inject({ method: 'GET', url: '/docs' });
    const html = page.statusCode === 302 ? await h.app.inject({ method: 'GET', url: page.headers['location']!.toString() }) : page;
    expect(html.statusCode).toBe(200);
    expect(html.headers['content-type']).toContain('text/html');
    // Over plain http too (no upgrade of its assets to https), and no third-party host.
    expect(html.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(html.headers['content-security-policy']).not.toMatch(/upgrade-insecure-requests|validator\.swagger\.io/);
    const refs = [...html.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) expect(ref, ref).not.toMatch(/^(https?:)?\/\//);
    for (const ref of refs.filter((r) => r.endsWith('.js') || r.endsWith('.css'))) {
      const asset = await h.app.inject({ method: 'GET', url: new URL(ref, 'http://x/docs/').pathname });
      expect(asset.statusCode, ref).toBe(200);
    }
    const init = await h.app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' });
    // The online validator badge is off: Swagger UI would otherwise send the document to validator.swagger.io.
    expect(init.body).toMatch(/validatorUrl: null/);
  });
});
