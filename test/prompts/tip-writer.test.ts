import xxhash from 'xxhash-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotationSlot } from '../../src/prompts/prompt-registry.js';
import { createTipWriter, tipWriterSettingsFromEnv } from '../../src/prompts/tip-writer.js';
import { startChatCompletionsServer, type ChatCompletionsServer } from '../helpers/chat-completions-server.js';

const { h32 } = await xxhash();
const CONTEXT = { hour_of_day: 14, day_of_week: 2, open_tasks: 3, overdue_tasks: 0, task_titles: ['Draft the budget'] };

let server: ChatCompletionsServer;
beforeAll(async () => {
  server = await startChatCompletionsServer({ apiKey: 'sk-writer', models: ['small-model'], reply: () => 'Give “Draft the budget” 50 quiet minutes.' });
});
afterAll(async () => {
  await server.close();
});

describe('tip writer', () => {
  it('writes with the embedded template by default and returns the version, source and writer', async () => {
    const writer = createTipWriter(tipWriterSettingsFromEnv({}), { hash32: h32 });
    expect(writer.provider).toBe('template');
    const tip = await writer.write({ userId: 'u1', arm: 'time_block', context: CONTEXT });
    expect(tip).toEqual({
      text: 'Block 50 minutes for one task and silence notifications.',
      prompt_version: 'v1',
      prompt_source: 'builtin',
      provider: 'template',
      model: 'embedded-template',
      latency_ms: expect.any(Number),
    });
    const v2 = await writer.write({ userId: 'u1', arm: 'time_block', context: CONTEXT, promptVersion: 'v2' });
    expect(v2).toMatchObject({
      text: 'Good afternoon! Block 50 minutes for one task and silence notifications. For example: “Draft the budget”.',
      prompt_version: 'v2',
      prompt_source: 'request',
    });
  });

  it('rotates by user with xxhash32 when TIP_PROMPT_VERSION is set', async () => {
    const writer = createTipWriter(tipWriterSettingsFromEnv({ TIP_PROMPT_VERSION: 'v1,v2', DEFAULT_PROMPT_VERSION: 'v1' }), { hash32: h32 });
    for (const user of ['ana', 'bo', 'cy', 'dee', 'eli', 'fay']) {
      const tip = await writer.write({ userId: user, arm: 'quick_win', context: CONTEXT });
      expect(tip.prompt_source).toBe('rotation');
      expect(tip.prompt_version).toBe(['v1', 'v2'][rotationSlot(user, 2, h32)]);
      expect(writer.promptVersionFor(user)).toBe(tip.prompt_version);
    }
  });

  it('writes through the LLM when configured, and reports a fallback with its reason', async () => {
    const settings = tipWriterSettingsFromEnv({
      LLM_BASE_URL: server.baseUrl,
      LLM_MODEL: 'small-model',
      LLM_API_KEY: 'sk-writer',
      LLM_TIMEOUT_MS: '10000',
      DEFAULT_PROMPT_VERSION: 'v2',
    });
    const writer = createTipWriter(settings, { hash32: h32 });
    expect(writer.provider).toBe('openai-compatible');
    const tip = await writer.write({ userId: 'u1', arm: 'time_block', context: CONTEXT });
    expect(tip).toMatchObject({ text: 'Give “Draft the budget” 50 quiet minutes.', prompt_version: 'v2', prompt_source: 'default', provider: 'openai-compatible', model: 'small-model' });
    expect(tip).not.toHaveProperty('fallback_reason');
    const sent = server.requests.at(-1)!.body as { messages: { content: string }[] };
    expect(sent.messages[1]!.content).toContain('Open tasks: 1. "Draft the budget"');

    server.inject({ kind: 'malformed' });
    const fallback = await writer.write({ userId: 'u1', arm: 'time_block', context: CONTEXT });
    expect(fallback).toMatchObject({
      text: 'Good afternoon! Block 50 minutes for one task and silence notifications. For example: “Draft the budget”.',
      prompt_version: 'v2',
      provider: 'template',
      model: 'embedded-template',
      fallback_reason: expect.stringMatching(/^malformed_json: /),
    });
  });

  it('rejects an unknown prompt version or arm with invalid_input before calling any model', async () => {
    const writer = createTipWriter(tipWriterSettingsFromEnv({ LLM_BASE_URL: server.baseUrl, LLM_MODEL: 'small-model', LLM_API_KEY: 'sk-writer' }), { hash32: h32 });
    const before = server.requests.length;
    await expect(writer.write({ userId: 'u', arm: 'split_task', context: CONTEXT, promptVersion: 'v7' })).rejects.toMatchObject({
      code: 'invalid_input',
      message: 'prompt_version "v7" is not a known prompt version (known: v1, v2)',
    });
    await expect(writer.write({ userId: 'u', arm: 'nap', context: CONTEXT })).rejects.toMatchObject({ code: 'invalid_input' });
    expect(server.requests.length).toBe(before);
  });

  it('fails at configuration time on an unknown DEFAULT_PROMPT_VERSION', () => {
    expect(() => tipWriterSettingsFromEnv({ DEFAULT_PROMPT_VERSION: 'v0' })).toThrow(/DEFAULT_PROMPT_VERSION "v0" is not a known prompt version/);
  });
});
