import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTipWriter, tipWriterSettingsFromEnv, type TipRequest, type TipWriter } from '../../src/prompts/tip-writer.js';
import { rotationSlot } from '../../src/prompts/prompt-registry.js';
import { startChatCompletionsServer, type ChatCompletionsServer } from '../helpers/chat-completions-server.js';
import type { TipServedEvent } from '../../src/events/schemas.js';
import { served } from '../helpers/events.js';
import { closingHarness, get, hash32, post, seededDir, T0, until } from './harness.js';

const harness = closingHarness();

let llm: ChatCompletionsServer;
beforeAll(async () => {
  llm = await startChatCompletionsServer({ apiKey: 'sk-serve', models: ['tip-model'], reply: () => 'Cut “Write the quarterly report” into three parts.' });
});
afterAll(async () => {
  await llm.close();
});

/** The writer `oo-ml serve` builds, from an environment. */
const writerFor = (env: Record<string, string>): TipWriter => createTipWriter(tipWriterSettingsFromEnv(env), { hash32 });

describe('POST /generate', () => {
  it('writes the tip for the given arm with the request context, without recording a serve', async () => {
    const seen: TipRequest[] = [];
    const writer = writerFor({ DEFAULT_PROMPT_VERSION: 'v2' });
    const tipWriter: TipWriter = { ...writer, write: (r) => (seen.push(r), writer.write(r)) };
    const h = await harness({ deps: { tipWriter } });
    const r = await post(h.app, '/generate', {
      user_id: 'u1',
      arm: 'split_task',
      context: { hour_of_day: 9, day_of_week: 0, tasks: [{ id: 'a', title: 'Write the\nquarterly report', due: '2026-02-01T00:00:00Z' }, { id: 'b' }] },
    });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      text: 'Good morning! Split the biggest task into three small steps. For example: “Write the quarterly report”.',
      arm: 'split_task',
      prompt_version: 'v2',
      prompt_source: 'default',
      provider: 'template',
      model: 'embedded-template',
      latency_ms: expect.any(Number),
      fallback_reason: null,
      serve: null,
    });
    expect(seen[0]).toEqual({
      userId: 'u1',
      arm: 'split_task',
      promptVersion: null,
      context: { hour_of_day: 9, day_of_week: 0, open_tasks: 2, overdue_tasks: 1, task_titles: ['Write the\nquarterly report'] },
    });
    expect(h.published.map((p) => p.event)).toHaveLength(0);
  });

  it('chooses and records an arm when none is given, and names an unknown arm or prompt version', async () => {
    const h = await harness();
    const r = await post(h.app, '/generate', { user_id: 'u2', context: { hour_of_day: 20 } });
    expect(r.status).toBe(200);
    const serve = r.body['serve'] as Record<string, unknown>;
    expect(r.body).toMatchObject({ prompt_version: 'v1', prompt_source: 'builtin' });
    expect(serve).toMatchObject({ policy: 'tip-policy@champion', prompt_version: 'v1', arm: r.body['arm'] });
    expect(h.published.map((p) => p.event)).toMatchObject([{ type: 'tip.served', serve_id: serve['serve_id'], prompt_version: 'v1' }]);
    expect((await post(h.app, '/reward', { serve_id: serve['serve_id'], reaction: 'liked' })).body['applied']).toBe(true);

    const arm = await post(h.app, '/generate', { user_id: 'u2', arm: 'juggle' });
    expect(arm).toMatchObject({ status: 400, body: { error: 'invalid_input', message: 'unknown arm "juggle"' } });
    const version = await post(h.app, '/generate', { user_id: 'u2', arm: 'quick_win', prompt_version: 'v9' });
    expect(version).toMatchObject({
      status: 400,
      body: { message: 'unknown prompt_version "v9"', hint: 'known prompt versions: v1, v2', details: [{ path: '/prompt_version', message: 'unknown prompt version' }] },
    });
    expect(h.published.map((p) => p.event)).toHaveLength(2);
  });

  it('records the rotated prompt version on every serve and writes the tip with the same one', async () => {
    const h = await harness({ deps: { tipWriter: writerFor({ TIP_PROMPT_VERSION: 'v1,v2' }) } });
    const users = ['ana', 'bo', 'cy', 'dee', 'eli', 'fay', 'gus', 'hal'];
    for (const user of users) {
      const expected = ['v1', 'v2'][rotationSlot(user, 2, hash32)];
      const scored = await post(h.app, '/score', { user_id: user });
      expect(scored.body['prompt_version']).toBe(expected);
      const written = await post(h.app, '/generate', { user_id: user });
      expect(written.body).toMatchObject({ prompt_version: expected, prompt_source: 'rotation', serve: { prompt_version: expected } });
    }
    // The rotation really splits these users (otherwise the test would not test it).
    expect(new Set(users.map((u) => rotationSlot(u, 2, hash32))).size).toBe(2);
    // A version named in the request wins over the rotation, on the serve and the tip.
    const asked = await post(h.app, '/generate', { user_id: 'ana', prompt_version: 'v2' });
    expect(asked.body).toMatchObject({ prompt_version: 'v2', prompt_source: 'request', serve: { prompt_version: 'v2' } });
  });

  it('writes the tip of a /score decision by serve_id: its arm and the prompt version its serve recorded', async () => {
    const specs = { 'tip-policy@champion': { version: '1' }, 'tip-policy@shadow': { version: '2' } };
    // A serve id this replica never folds is waited for only briefly here.
    const h = await harness({ policies: specs, shadows: ['tip-policy@shadow'], deps: { tipWriter: writerFor({ DEFAULT_PROMPT_VERSION: 'v2' }), limits: { serveWaitMs: 50 } } });
    const scored = await post(h.app, '/score', { user_id: 'u4' });
    expect(scored.body['prompt_version']).toBe('v2');
    const serveId = scored.body['serve_id'] as string;
    await until(() => h.published.length === 2, 'the shadow serve to be stored');
    const served = h.published.length;
    // The fold sees the serve after the answer: asked again until it has (each wait is the 50 ms above).
    let tip: Awaited<ReturnType<typeof post>> | undefined;
    await until(async () => (tip = await post(h.app, '/generate', { user_id: 'u4', serve_id: serveId })).status === 200, 'the serve to reach the fold');
    expect(tip!.body).toMatchObject({ arm: scored.body['arm'], prompt_version: 'v2', prompt_source: 'serve', serve: null });
    // No second decision: the serve is the one the reaction will name.
    expect(h.published.map((p) => p.event)).toHaveLength(served);
    expect((await post(h.app, '/generate', { user_id: 'u4', serve_id: serveId, prompt_version: 'v2' })).body).toMatchObject({ prompt_version: 'v2', prompt_source: 'serve' });

    const refusals: [Record<string, unknown>, number, string][] = [
      [{ user_id: 'u4', serve_id: serveId, prompt_version: 'v1' }, 409, '/prompt_version'],
      [{ user_id: 'u4', serve_id: serveId, arm: 'quick_win' }, 400, '/arm'],
      [{ user_id: 'someone-else', serve_id: serveId }, 409, '/user_id'],
      [{ user_id: 'u4', serve_id: `${serveId}:shadow:0` }, 409, '/serve_id'],
      [{ user_id: 'u4', serve_id: 'no-such-serve' }, 404, '/serve_id'],
      [{ user_id: 'u4', serve_id: '0123456789ab-zz' }, 404, '/serve_id'],
    ];
    for (const [body, status, path] of refusals) {
      const r = await post(h.app, '/generate', body);
      expect([r.status, (r.body['details'] as { path: string }[])[0]?.path], JSON.stringify(body)).toEqual([status, path]);
    }
    expect(h.published.map((p) => p.event)).toHaveLength(served);
    // Hours later, without a context: the tip is written for the serve's time (T0, 12:00 UTC), not this call's.
    h.clock.ms += 9 * 3_600_000;
    expect((await post(h.app, '/generate', { user_id: 'u4', serve_id: serveId })).body['text']).toMatch(/^Good afternoon! /);
    expect((await post(h.app, '/generate', { user_id: 'u4', arm: 'quick_win', prompt_version: 'v2' })).body['text']).toMatch(/^Good evening! /);
  });

  it("writes a serve's tip for the hour, day and task counts the serve recorded, not the serve time's UTC clock; what the request gives wins", async () => {
    const seen: TipRequest[] = [];
    const writer = writerFor({ DEFAULT_PROMPT_VERSION: 'v2' });
    const h = await harness({ deps: { tipWriter: { ...writer, write: (r) => (seen.push(r), writer.write(r)) } } });
    // The app said 8 o'clock on a Sunday, with one overdue task of two (the clock: Thursday 12:00 UTC).
    const scored = await post(h.app, '/score', { user_id: 'u4', context: { hour_of_day: 8, day_of_week: 6, tasks: [{ id: 'a', due: '2026-01-01T00:00:00Z' }, { id: 'b' }] } });
    const serveId = scored.body['serve_id'] as string;
    const tip = await post(h.app, '/generate', { user_id: 'u4', serve_id: serveId });
    expect(tip.body['text']).toMatch(/^Good morning! /);
    expect(seen.at(-1)!.context).toMatchObject({ hour_of_day: 8, day_of_week: 6, open_tasks: 2, overdue_tasks: 1 });
    // The request's own context wins where it gives one: its titles and tasks, its hour.
    await post(h.app, '/generate', { user_id: 'u4', serve_id: serveId, context: { hour_of_day: 19, tasks: [{ id: 'c', title: 'Plan the week' }] } });
    expect(seen.at(-1)!.context).toMatchObject({ hour_of_day: 19, day_of_week: 6, open_tasks: 1, overdue_tasks: 0, task_titles: ['Plan the week'] });
  });

  it('refuses a tip for a replayed serve whose recorded prompt version this server does not have (409), and uses the request rules for one that recorded none', async () => {
    // Serves another build published: one names a version this build lacks, one recorded none.
    const replayed = (serveId: string, promptVersion: string | null): TipServedEvent => ({ ...served('u1', new Date(T0.getTime() - 60_000).toISOString(), serveId, 'quick_win'), prompt_version: promptVersion });
    const h = await harness({ dir: await seededDir([replayed('0000000000a9-0', 'v9'), replayed('0000000000a9-1', null)]) });
    const v9 = await post(h.app, '/generate', { user_id: 'u1', serve_id: '0000000000a9-0' });
    expect([v9.status, v9.body['details']]).toEqual([409, [{ path: '/serve_id', message: 'recorded unknown prompt version "v9"' }]]);
    const none = await post(h.app, '/generate', { user_id: 'u1', serve_id: '0000000000a9-1', prompt_version: 'v2' });
    expect(none.body).toMatchObject({ arm: 'quick_win', prompt_version: 'v2', prompt_source: 'request' });
  });

  it('writes through an OpenAI-compatible model when LLM_BASE_URL is set, and falls back to the template with the reason', async () => {
    const h = await harness({ deps: { tipWriter: writerFor({ LLM_BASE_URL: llm.baseUrl, LLM_MODEL: 'tip-model', LLM_API_KEY: 'sk-serve', LLM_TIMEOUT_MS: '5000' }) } });
    const body = { user_id: 'u3', arm: 'split_task', context: { hour_of_day: 9, tasks: [{ id: 'a', title: 'Write the quarterly report' }] } };
    const ok = await post(h.app, '/generate', body);
    expect(ok.body).toMatchObject({ text: 'Cut “Write the quarterly report” into three parts.', provider: 'openai-compatible', model: 'tip-model', fallback_reason: null });
    expect(JSON.stringify(llm.requests.at(-1)!.body)).toContain('Tip: Split the biggest task into three small steps.');

    llm.inject({ kind: 'status500' }, 2);
    const fallback = await post(h.app, '/generate', body);
    expect(fallback.status).toBe(200);
    expect(fallback.body).toMatchObject({
      text: 'Split the biggest task into three small steps.',
      provider: 'template',
      model: 'embedded-template',
      fallback_reason: expect.stringMatching(/^http_status: /),
    });
    const metrics = (await get(h.app, '/metrics')).text;
    expect(metrics).toContain('oo_ml_tips_generated_total{provider="openai-compatible",outcome="ok"} 1');
    expect(metrics).toContain('oo_ml_tips_generated_total{provider="template",outcome="fallback"} 1');
    // The log says so, once a minute (with how many fell back since), not once per call.
    const warnings = () => h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l['msg']).startsWith('tip writer fell back'));
    expect(warnings()).toMatchObject([{ level: 'warn', fallbacks: 1, fallback_reason: expect.stringMatching(/^http_status: HTTP 500/) }]);
    // Each call tries twice.
    llm.inject({ kind: 'status500' }, 6);
    await post(h.app, '/generate', body);
    await post(h.app, '/generate', body);
    expect(warnings()).toHaveLength(1);
    h.clock.ms += 60_000;
    await post(h.app, '/generate', body);
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ fallbacks: 3 });
  });

  it('reads a blank prompt_version as none and a padded one as itself', async () => {
    const h = await harness();
    for (const prompt_version of ['', '  ']) {
      const r = await post(h.app, '/generate', { user_id: 'u2', arm: 'quick_win', prompt_version });
      expect(r, JSON.stringify(prompt_version)).toMatchObject({ status: 200, body: { prompt_version: 'v1', prompt_source: 'builtin' } });
    }
    expect(await post(h.app, '/generate', { user_id: 'u2', arm: 'quick_win', prompt_version: ' v2 ' })).toMatchObject({ status: 200, body: { prompt_version: 'v2', prompt_source: 'request' } });
  });
});
