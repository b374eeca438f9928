import { afterEach, describe, expect, it } from 'vitest';
import type { OoMlApp } from '../../src/server/app.js';
import type { TipWriteRequest } from '../../src/server/deps.js';
import { createTemplateTipWriter } from '../../src/server/template-tip-writer.js';
import { createHarness, post } from './harness.js';

const apps: OoMlApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

describe('POST /generate', () => {
  it('writes the tip for the given arm with the request context, without recording a serve', async () => {
    const seen: TipWriteRequest[] = [];
    const template = createTemplateTipWriter();
    const tipWriter = { ...template, write: (r: TipWriteRequest) => (seen.push(r), template.write(r)) };
    const h = await createHarness({ deps: { tipWriter } });
    apps.push(h.app);
    const r = await post(h.app, '/generate', {
      user_id: 'u1',
      arm: 'split_task',
      context: { hour_of_day: 9, day_of_week: 0, tasks: [{ id: 'a', title: 'Write the\nquarterly report', due: '2026-02-01T00:00:00Z' }, { id: 'b' }] },
    });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      text: 'Split the biggest task into three small steps. Start with “Write the quarterly report”. (Monday 09:00; 2 open, 1 overdue)',
      arm: 'split_task',
      prompt_version: 'template-v1',
      provider: 'template',
      model: 'embedded-template',
      serve: null,
    });
    expect(seen[0]).toEqual({
      userId: 'u1',
      arm: 'split_task',
      context: { hour_of_day: 9, day_of_week: 0, open_tasks: 2, overdue_tasks: 1, task_titles: ['Write the\nquarterly report'] },
    });
    expect(h.sink.events).toHaveLength(0);
  });

  it('chooses and records an arm when none is given, and names an unknown arm or prompt version', async () => {
    const h = await createHarness();
    apps.push(h.app);
    const r = await post(h.app, '/generate', { user_id: 'u2', context: { hour_of_day: 20 } });
    expect(r.status).toBe(200);
    const serve = r.body['serve'] as Record<string, unknown>;
    expect(serve).toMatchObject({ policy: 'tip-policy@champion', prompt_version: 'template-v1', arm: r.body['arm'] });
    expect(h.sink.events).toMatchObject([{ type: 'tip.served', serve_id: serve['serve_id'], prompt_version: 'template-v1' }]);
    expect((await post(h.app, '/reward', { serve_id: serve['serve_id'], reaction: 'liked' })).body['applied']).toBe(true);

    const arm = await post(h.app, '/generate', { user_id: 'u2', arm: 'juggle' });
    expect(arm).toMatchObject({ status: 400, body: { error: 'invalid_input', message: 'unknown arm "juggle"' } });
    const version = await post(h.app, '/generate', { user_id: 'u2', arm: 'quick_win', prompt_version: 'v9' });
    expect(version).toMatchObject({ status: 400, body: { message: 'unknown prompt_version "v9"', details: [{ path: '/prompt_version', message: 'unknown prompt version' }] } });
  });
});
