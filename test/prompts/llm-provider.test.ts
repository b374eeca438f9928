import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isOoMlError } from '../../src/errors.js';
import { tipWriterSettingsFromEnv } from '../../src/prompts/tip-writer.js';
import {
  LLM_DEFAULTS,
  TEMPLATE_MODEL,
  chatCompletionsUrl,
  createLlmProvider,
  createOpenAiCompatibleProvider,
  createTemplateProvider,
  llmSettingsFromEnv,
  type LlmSettings,
} from '../../src/prompts/llm-provider.js';
import { renderPrompt } from '../../src/prompts/prompt-registry.js';
import { startChatCompletionsServer, type ChatCompletionsServer } from '../helpers/chat-completions-server.js';

const PROMPT = renderPrompt('v2', 'split_task', { hour_of_day: 9, day_of_week: 0, open_tasks: 4, overdue_tasks: 1, task_titles: ['Write Q1 report'] });
const TEMPLATE = 'Good morning! Split the biggest task into three small steps. For example: “Write Q1 report”.';
// Success paths get a generous timeout (a loaded CI box must not make them retry); the timeout
// tests use a short one and a server that answers far later.
const TIMEOUT_MS = 200;
const SLOW_MS = 1_500;

let server: ChatCompletionsServer;
beforeAll(async () => {
  server = await startChatCompletionsServer({ apiKey: 'sk-test-123', models: ['test-model'] });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.requests.length = 0;
});

const settings = (over: Partial<LlmSettings> = {}): LlmSettings => ({
  baseUrl: server.baseUrl,
  model: 'test-model',
  apiKey: 'sk-test-123',
  timeoutMs: 10_000,
  ...over,
});

/** A free loopback port with nothing listening (connection refused). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('template provider', () => {
  it('writes the variant template, deterministically, without a network', async () => {
    let t = 0;
    const p = createTemplateProvider({ now: () => (t += 2) });
    const a = await p.generate(PROMPT);
    expect(a).toEqual({ text: TEMPLATE, provider: 'template', model: TEMPLATE_MODEL, latencyMs: 2 });
    expect((await p.generate(PROMPT)).text).toBe(a.text);
    expect(createLlmProvider(null).name).toBe('template');
  });
});

describe('OpenAI-compatible provider (loopback chat-completions server)', () => {
  it('posts {model, messages, max_tokens, temperature} with the key as Bearer and records provider and model', async () => {
    const g = await createLlmProvider(settings()).generate(PROMPT);
    expect(g).toMatchObject({
      text: 'Split the report into three small steps and start with the outline.',
      provider: 'openai-compatible',
      model: 'test-model',
    });
    expect(g.fallbackReason).toBeUndefined();
    expect(g.latencyMs).toBeGreaterThanOrEqual(0);
    expect(server.requests).toHaveLength(1);
    const [req] = server.requests;
    expect(req).toMatchObject({ method: 'POST', path: '/v1/chat/completions', authorization: 'Bearer sk-test-123', contentType: 'application/json' });
    expect(req!.body).toEqual({
      model: 'test-model',
      messages: PROMPT.messages,
      max_tokens: LLM_DEFAULTS.maxTokens,
      temperature: LLM_DEFAULTS.temperature,
    });
  });

  it('appends only /chat/completions to the base URL (trailing slashes ignored)', () => {
    expect(chatCompletionsUrl('http://127.0.0.1:1/v1/')).toBe('http://127.0.0.1:1/v1/chat/completions');
    expect(chatCompletionsUrl('http://127.0.0.1:1/openai/v1')).toBe('http://127.0.0.1:1/openai/v1/chat/completions');
    expect(chatCompletionsUrl('http://127.0.0.1:1')).toBe('http://127.0.0.1:1/chat/completions');
    // A query (Azure's api-version) stays the query; the path was appended to its last value.
    expect(chatCompletionsUrl('http://127.0.0.1:1/v1/?api-version=2024-06-01&x=1')).toBe('http://127.0.0.1:1/v1/chat/completions?api-version=2024-06-01&x=1');
  });

  it('passes on the model name the answer reports cleaned and capped, and the configured one when it reports none', async () => {
    const provider = createLlmProvider(settings());
    server.inject({ kind: 'model', model: 'gpt-\u202Egnp\u202C x\u001b[2J\nmini' }, 1);
    expect((await provider.generate(PROMPT)).model).toBe('gpt-gnp x [2J mini');
    server.inject({ kind: 'model', model: 'M'.repeat(500_000) }, 1);
    expect((await provider.generate(PROMPT)).model).toBe('M'.repeat(100));
    server.inject({ kind: 'model', model: '\u200B' }, 1);
    expect((await provider.generate(PROMPT)).model).toBe('test-model');
  });

  it('sanitises the answer to one line', async () => {
    const s = await startChatCompletionsServer({ reply: () => '  "Block 50 minutes\nfor the report."  ' });
    try {
      const g = await createLlmProvider({ ...settings(), baseUrl: s.baseUrl, apiKey: undefined }).generate(PROMPT);
      expect(g).toMatchObject({ text: 'Block 50 minutes for the report.', provider: 'openai-compatible' });
      expect(s.requests[0]!.authorization).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  it('retries once after a 500 and then succeeds', async () => {
    server.inject({ kind: 'status500' });
    const g = await createLlmProvider(settings()).generate(PROMPT);
    expect(g.provider).toBe('openai-compatible');
    expect(g.fallbackReason).toBeUndefined();
    expect(server.requests).toHaveLength(2);
  });

  it('falls back to the template after a timeout, which spends the whole budget (no second attempt), with the reason', async () => {
    server.inject({ kind: 'slow', ms: SLOW_MS });
    const g = await createLlmProvider(settings({ timeoutMs: TIMEOUT_MS })).generate(PROMPT);
    expect(g).toMatchObject({
      text: TEMPLATE,
      provider: 'template',
      model: TEMPLATE_MODEL,
      fallbackReason: `timeout: no answer within ${TIMEOUT_MS} ms (1 attempt)`,
    });
    expect(server.requests).toHaveLength(1);
  });

  it('gives a retry after a fast 5xx only the budget the first attempt left', async () => {
    // The 500 comes back at once; the retry meets a slow answer and the same deadline.
    server.inject({ kind: 'status500' });
    server.inject({ kind: 'slow', ms: SLOW_MS });
    const g = await createLlmProvider(settings({ timeoutMs: TIMEOUT_MS })).generate(PROMPT);
    expect(g).toMatchObject({ provider: 'template', fallbackReason: `timeout: no answer within ${TIMEOUT_MS} ms (2 attempts)` });
    expect(server.requests).toHaveLength(2);
  });

  it('falls back after two 500s, naming the status', async () => {
    server.inject({ kind: 'status500' }, 2);
    const g = await createLlmProvider(settings()).generate(PROMPT);
    expect(g.provider).toBe('template');
    expect(g.fallbackReason).toMatch(/^http_status: HTTP 500, \d+ bytes of body \(2 attempts\)$/);
    expect(server.requests).toHaveLength(2);
  });

  it('does not retry a 429 and falls back at once', async () => {
    server.inject({ kind: 'status429' });
    const g = await createLlmProvider(settings()).generate(PROMPT);
    expect(g.provider).toBe('template');
    expect(g.fallbackReason).toMatch(/^http_status: HTTP 429, \d+ bytes of body \(1 attempt\)$/);
    expect(server.requests).toHaveLength(1);
  });

  it('falls back on malformed JSON, empty choices and null content, without retrying', async () => {
    const cases = [
      { fault: { kind: 'malformed' } as const, reason: /^malformed_json: body is not JSON \(\d+ bytes\)$/ },
      { fault: { kind: 'emptyChoices' } as const, reason: /^invalid_response: not a chat completion: \/choices: / },
      { fault: { kind: 'nullContent' } as const, reason: /^empty_content: / },
    ];
    for (const c of cases) {
      server.requests.length = 0;
      server.inject(c.fault);
      const g = await createLlmProvider(settings()).generate(PROMPT);
      expect(g).toMatchObject({ text: TEMPLATE, provider: 'template' });
      expect(g.fallbackReason).toMatch(c.reason);
      expect(server.requests).toHaveLength(1);
    }
  });

  it('falls back on a wrong key (401) and an unknown model (404) without retrying', async () => {
    const wrongKey = await createLlmProvider(settings({ apiKey: 'sk-wrong' })).generate(PROMPT);
    expect(wrongKey.fallbackReason).toMatch(/^http_status: HTTP 401, \d+ bytes of body \(1 attempt\)$/);
    const wrongModel = await createLlmProvider(settings({ model: 'gpt-none' })).generate(PROMPT);
    expect(wrongModel.fallbackReason).toMatch(/^http_status: HTTP 404, \d+ bytes of body \(1 attempt\)$/);
    expect(server.requests).toHaveLength(2);
  });

  it('retries once on a refused connection, then falls back', async () => {
    const port = await closedPort();
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const g = await createLlmProvider(settings({ baseUrl: `http://127.0.0.1:${port}/v1` }), { fetch: counting }).generate(PROMPT);
    expect(calls).toBe(2);
    expect(g).toMatchObject({ provider: 'template', fallbackReason: 'connection: ECONNREFUSED (2 attempts)' });
  });

  it('never passes an upstream body back: a gateway that echoes the Authorization header leaks nothing', async () => {
    server.inject({ kind: 'echoAuth' }, 2);
    const g = await createLlmProvider(settings()).generate(PROMPT);
    expect(g.provider).toBe('template');
    expect(g.fallbackReason).toMatch(/^http_status: HTTP 502, \d+ bytes of body \(2 attempts\)$/);
    expect(JSON.stringify(g)).not.toContain('sk-test-123');
  });

  it('refuses an answer over the body cap without reading it all, declared or streamed', async () => {
    const cap = 1_048_576;
    server.inject({ kind: 'huge', bytes: 64 * cap, declare: true });
    const declared = await createLlmProvider(settings()).generate(PROMPT);
    expect(declared).toMatchObject({ provider: 'template', fallbackReason: `too_large: HTTP 200, body over ${cap} bytes (1 attempt)` });
    server.inject({ kind: 'huge', bytes: 64 * cap, declare: false });
    const streamed = await createLlmProvider(settings()).generate(PROMPT);
    expect(streamed).toMatchObject({ provider: 'template', fallbackReason: `too_large: HTTP 200, body over ${cap} bytes (1 attempt)` });
    // The client hung up long before the 64 MiB were written (socket buffers hold a few MiB at most).
    await expect.poll(() => server.hugeSent).toBeGreaterThan(cap);
    expect(server.hugeSent).toBeLessThan(32 * cap);
  });

  it('takes credentials in LLM_BASE_URL as basic auth and never prints them', async () => {
    const withUser = server.baseUrl.replace('http://', 'http://gw-user:s3cret-pass@');
    const p = createOpenAiCompatibleProvider({ baseUrl: withUser, model: 'test-model', timeoutMs: 10_000 });
    const e: unknown = await p.generate(PROMPT).then(
      () => undefined,
      (err: unknown) => err,
    );
    // The test server wants the Bearer key, so it refuses: what matters is what was sent and said.
    expect(server.requests.at(-1)!.authorization).toBe(`Basic ${Buffer.from('gw-user:s3cret-pass').toString('base64')}`);
    expect(isOoMlError(e, 'unavailable')).toBe(true);
    expect((e as Error).message).toContain(`POST ${server.baseUrl}/chat/completions failed: http_status: HTTP 401`);
    expect(JSON.stringify({ message: (e as Error).message, details: (e as { details?: unknown }).details })).not.toMatch(/s3cret-pass|gw-user/);
  });

  it('without the fallback, rejects with unavailable naming the URL and reason', async () => {
    server.inject({ kind: 'status429' });
    const p = createOpenAiCompatibleProvider({ baseUrl: server.baseUrl, model: 'test-model', apiKey: 'sk-test-123', timeoutMs: 10_000 });
    const e: unknown = await p.generate(PROMPT).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isOoMlError(e, 'unavailable')).toBe(true);
    expect((e as Error).message).toContain(`POST ${server.baseUrl}/chat/completions failed: http_status: HTTP 429`);
    expect((e as Error).message).not.toContain('sk-test-123');
  });
});

describe('LLM settings from the environment', () => {
  it('means the template writer without LLM_BASE_URL', () => {
    expect(llmSettingsFromEnv({})).toBeNull();
    expect(llmSettingsFromEnv({ LLM_BASE_URL: '  ', LLM_MODEL: 'm' })).toBeNull();
  });

  it('reads the URL, model, key and timeout', () => {
    expect(llmSettingsFromEnv({ LLM_BASE_URL: 'http://127.0.0.1:11434/v1', LLM_MODEL: 'llama3.2' })).toEqual({
      baseUrl: 'http://127.0.0.1:11434/v1',
      model: 'llama3.2',
      apiKey: undefined,
      timeoutMs: LLM_DEFAULTS.timeoutMs,
    });
    expect(llmSettingsFromEnv({ LLM_BASE_URL: 'http://127.0.0.1:1/v1', LLM_MODEL: 'm', LLM_API_KEY: 'k', LLM_TIMEOUT_MS: '800' })).toMatchObject({
      apiKey: 'k',
      timeoutMs: 800,
    });
  });

  it('names the bad variable', () => {
    expect(() => llmSettingsFromEnv({ LLM_BASE_URL: 'not a url', LLM_MODEL: 'm' })).toThrow('LLM_BASE_URL "not a url" is not a URL');
    expect(() => llmSettingsFromEnv({ LLM_BASE_URL: 'ftp://127.0.0.1/v1', LLM_MODEL: 'm' })).toThrow('must be an http(s) URL');
    expect(() => llmSettingsFromEnv({ LLM_BASE_URL: 'http://127.0.0.1:1/v1' })).toThrow('LLM_MODEL is not set but LLM_BASE_URL is');
    expect(() => llmSettingsFromEnv({ LLM_BASE_URL: 'http://127.0.0.1:1/v1', LLM_MODEL: 'm', LLM_TIMEOUT_MS: '2s' })).toThrow('LLM_TIMEOUT_MS must be');
    // From the environment as `oo-ml serve` reads it: bad usage (exit 2), as LOG_LEVEL is.
    for (const env of [{ LLM_BASE_URL: 'not a url', LLM_MODEL: 'm' }, { DEFAULT_PROMPT_VERSION: 'v9' }]) {
      expect(() => tipWriterSettingsFromEnv(env)).toThrow(expect.objectContaining({ code: 'invalid_usage' }));
    }
  });
});
