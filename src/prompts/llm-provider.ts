/**
 * The LLM gateway: one `LlmProvider` interface that turns a rendered prompt into tip text, with
 * two adapters chosen by the environment:
 *
 * - the embedded template writer (default; no network, deterministic): the prompt variant's
 *   template rendering;
 * - an OpenAI-compatible chat-completions client (`LLM_BASE_URL` set): POST
 *   `{LLM_BASE_URL}/chat/completions` with `{model, messages, max_tokens, temperature}`.
 *   `LLM_BASE_URL` is the API root *including* its version segment, as the OpenAI SDKs'
 *   `baseURL` (`https://api.openai.com/v1`, `http://127.0.0.1:11434/v1` for Ollama,
 *   `http://host:8000/v1` for vLLM); nothing is appended but `/chat/completions`, so servers
 *   that mount the API elsewhere work too.
 *
 * `LLM_TIMEOUT_MS` is the whole call's budget: both attempts and the reading of the answer share
 * one deadline. The client retries exactly once, at once, after a timeout, a 5xx or a connection
 * error, if time is left. Nothing else is retried: a 429 asks for back-off that a tip request
 * cannot wait for, and a 4xx or a malformed answer would fail the same way again. A final failure
 * (including a body that does not decode, one over LLM_MAX_BODY_BYTES, or empty content) falls
 * back to the template writer, and the result says so (`provider: 'template'`, `fallbackReason`),
 * so a tip is always served and the log shows which writer produced it.
 *
 * Secrets stay in: a fallback reason or an error names the URL with its credentials redacted
 * (redact.ts) and never quotes the upstream body (a gateway may echo the request's
 * Authorization header into it); it gives the status and the body's size.
 */
import Type from 'typebox';
import { readCappedBody } from '../io/capped-body.js';
import { errnoOf, invalidInput, isOoMlError, unavailable, type OoMlError } from '../errors.js';
import { redactUrl, redactUserInfo, splitUserInfo } from '../redact.js';
import { createValidator } from '../validation.js';
import type { RenderedPrompt } from './prompt-registry.js';
import { sanitizeLabel, sanitizeTipText } from './tip-text.js';

/** Which writer produced a text. */
export type ProviderName = 'template' | 'openai-compatible';

/** A written tip and how it was written. */
export interface Generation {
  /** Sanitised tip text (one line, capped; see tip-text.ts). */
  text: string;
  /** The writer that produced `text` (the template after a fallback). */
  provider: ProviderName;
  /** The model that answered (as the server reports it), or `embedded-template`. */
  model: string;
  /** Wall time of the whole call, retries and fallback included. */
  latencyMs: number;
  /** Why the configured provider was not used (set only after a fallback). */
  fallbackReason?: string;
}

/** Writes tip text for a rendered prompt. */
export interface LlmProvider {
  /** The configured (primary) writer. */
  readonly name: ProviderName;
  /** Writes the tip; rejects with `unavailable` when this provider cannot (no fallback inside). */
  generate(prompt: RenderedPrompt): Promise<Generation>;
}

/** The model name reported for the embedded template writer. */
export const TEMPLATE_MODEL = 'embedded-template';

/** Defaults of the chat-completions client. */
export const LLM_DEFAULTS = {
  timeoutMs: 5_000,
  // A 30-word tip is ~45 tokens; the cap stops a runaway answer, the sanitiser cuts the rest.
  maxTokens: 120,
  temperature: 0.7,
  // A chat completion of a ~45-token tip is ~1 KB; anything past 1 MiB is not one, and reading it
  // would only hold memory (5 calls answered with 400 MB each took a server to 2.85 GB).
  maxBodyBytes: 1_048_576,
} as const;

/** The embedded writer: the variant's template text, no network, same input → same text. */
export function createTemplateProvider(deps: { now?: () => number } = {}): LlmProvider {
  const now = deps.now ?? (() => performance.now());
  return {
    name: 'template',
    generate(prompt) {
      const start = now();
      return Promise.resolve({ text: prompt.templateText, provider: 'template', model: TEMPLATE_MODEL, latencyMs: now() - start });
    },
  };
}

// ---- OpenAI-compatible client -----------------------------------------------------------------

/** Options of the chat-completions client. */
export interface OpenAiCompatibleOptions {
  /** API root including the version segment (`…/v1`); `/chat/completions` is appended. */
  baseUrl: string;
  model: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string | undefined;
  /** The whole call's budget (both attempts), in ms. */
  timeoutMs?: number;
  /** Answers larger than this are refused unread past it (default LLM_DEFAULTS.maxBodyBytes). */
  maxBodyBytes?: number;
  maxTokens?: number;
  temperature?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/** The part of a chat-completions answer oo-ml reads; servers add many more fields (accepted). */
export const ChatCompletionResponse = Type.Object({
  model: Type.Optional(Type.String()),
  choices: Type.Array(
    Type.Object({
      message: Type.Object({ content: Type.Union([Type.String(), Type.Null()]) }),
    }),
    { minItems: 1 },
  ),
});
const responseValidator = createValidator(ChatCompletionResponse);

/** Longest model name passed on from a provider's answer, in characters. */
const MAX_MODEL_CHARS = 100;

/** Why a chat-completions call failed (the first word of a fallback reason). */
export type LlmFailureReason = 'timeout' | 'connection' | 'http_status' | 'too_large' | 'malformed_json' | 'invalid_response' | 'empty_content';

type Attempt =
  | { kind: 'ok'; body: string }
  | { kind: 'http'; status: number; bytes: number }
  | { kind: 'too_large'; status: number }
  | { kind: 'timeout' }
  | { kind: 'connection'; code: string };

/** The chat-completions URL of an API root: the path gets `/chat/completions`, a query (`?api-version=…`) stays a query. */
export function chatCompletionsUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/chat/completions`;
  return url.toString();
}

/** The OpenAI-compatible adapter. Rejects with `unavailable` (details.reason) after its one retry. */
export function createOpenAiCompatibleProvider(options: OpenAiCompatibleOptions): LlmProvider {
  // fetch refuses a URL with user info: it becomes basic auth (unless LLM_API_KEY is set).
  const { url: baseUrl, username, password } = splitUserInfo(options.baseUrl);
  const basic = username === undefined ? undefined : `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}`;
  const url = chatCompletionsUrl(baseUrl);
  const shownUrl = redactUrl(url);
  const timeoutMs = options.timeoutMs ?? LLM_DEFAULTS.timeoutMs;
  const maxBodyBytes = options.maxBodyBytes ?? LLM_DEFAULTS.maxBodyBytes;
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? (() => performance.now());
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (options.apiKey !== undefined && options.apiKey !== '') headers['Authorization'] = `Bearer ${options.apiKey}`;
  else if (basic !== undefined) headers['Authorization'] = basic;

  const fail = (reason: LlmFailureReason, detail: string, cause?: unknown): OoMlError =>
    unavailable(`LLM request POST ${shownUrl} failed: ${reason}: ${detail}`, {
      hint: 'check LLM_BASE_URL, LLM_MODEL and LLM_API_KEY, and that the server is up',
      details: { reason, detail, url: shownUrl },
      cause,
    });

  async function attempt(body: string, signal: AbortSignal): Promise<Attempt> {
    try {
      const res = await doFetch(url, { method: 'POST', headers, body, signal });
      // Reading the body stays under the same signal: a server that stalls mid-body times out too.
      const read = await readCappedBody(res, maxBodyBytes);
      if (read === null) return { kind: 'too_large', status: res.status };
      if (!res.ok) return { kind: 'http', status: res.status, bytes: read.byteLength };
      return { kind: 'ok', body: Buffer.from(read.buffer, read.byteOffset, read.byteLength).toString('utf8') };
    } catch (e) {
      if (signal.aborted) return { kind: 'timeout' };
      return { kind: 'connection', code: networkCode(e) };
    }
  }

  const retryable = (a: Attempt): boolean =>
    a.kind === 'timeout' || a.kind === 'connection' || (a.kind === 'http' && a.status >= 500);

  return {
    name: 'openai-compatible',
    async generate(prompt) {
      const start = now();
      const body = JSON.stringify({
        model: options.model,
        messages: prompt.messages,
        max_tokens: options.maxTokens ?? LLM_DEFAULTS.maxTokens,
        temperature: options.temperature ?? LLM_DEFAULTS.temperature,
      });
      // One deadline for the whole call: a retry gets what the first attempt left.
      const signal = AbortSignal.timeout(timeoutMs);
      let result = await attempt(body, signal);
      let attempts = 1;
      if (retryable(result) && !signal.aborted) {
        result = await attempt(body, signal);
        attempts = 2;
      }
      const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
      switch (result.kind) {
        case 'timeout':
          throw fail('timeout', `no answer within ${timeoutMs} ms (${tries})`);
        case 'connection':
          throw fail('connection', `${result.code} (${tries})`);
        case 'http':
          throw fail('http_status', `HTTP ${result.status}, ${result.bytes} bytes of body (${tries})`);
        case 'too_large':
          throw fail('too_large', `HTTP ${result.status}, body over ${maxBodyBytes} bytes (${tries})`);
        case 'ok':
          break;
      }
      let json: unknown;
      try {
        json = JSON.parse(result.body);
      } catch (e) {
        throw fail('malformed_json', `body is not JSON (${Buffer.byteLength(result.body)} bytes)`, e);
      }
      if (!responseValidator.check(json)) {
        const issues = responseValidator.issues(json).map((i) => `${i.path}: ${i.message}`).join('; ');
        throw fail('invalid_response', `not a chat completion: ${issues}`);
      }
      const text = sanitizeTipText(json.choices[0]!.message.content);
      if (text === null) throw fail('empty_content', 'choices[0].message.content is empty');
      // The provider's name for its model goes to clients and logs: cleaned and capped like text.
      const reported = json.model === undefined ? '' : sanitizeLabel(json.model, MAX_MODEL_CHARS);
      const model = reported !== '' ? reported : options.model;
      return { text, provider: 'openai-compatible', model, latencyMs: now() - start };
    },
  };
}

/**
 * `primary` with `fallback` behind it: when `primary` rejects with `unavailable`, the fallback
 * writes the tip and the result carries `fallbackReason` (`<reason>: <detail>`). Any other error
 * is a bug and propagates.
 */
export function withFallback(primary: LlmProvider, fallback: LlmProvider, deps: { now?: () => number } = {}): LlmProvider {
  const now = deps.now ?? (() => performance.now());
  return {
    name: primary.name,
    async generate(prompt) {
      const start = now();
      try {
        return await primary.generate(prompt);
      } catch (e) {
        if (!isOoMlError(e, 'unavailable')) throw e;
        const written = await fallback.generate(prompt);
        return { ...written, latencyMs: now() - start, fallbackReason: fallbackReasonOf(e) };
      }
    },
  };
}

/** `<reason>: <detail>` of a provider failure, or its message. */
function fallbackReasonOf(e: OoMlError): string {
  const d = e.details as { reason?: unknown; detail?: unknown } | undefined;
  return typeof d?.reason === 'string' && typeof d.detail === 'string' ? `${d.reason}: ${d.detail}` : e.message;
}

// ---- configuration ----------------------------------------------------------------------------

/** The LLM variables (values as read). */
export interface LlmEnv {
  LLM_BASE_URL?: string | undefined;
  LLM_API_KEY?: string | undefined;
  LLM_MODEL?: string | undefined;
  LLM_TIMEOUT_MS?: string | undefined;
}

/** Validated client settings; null settings mean the embedded template writer. */
export interface LlmSettings {
  baseUrl: string;
  model: string;
  apiKey: string | undefined;
  timeoutMs: number;
}

const blank = (v: string | undefined): string | undefined => {
  const t = v?.trim();
  return t === undefined || t === '' ? undefined : t;
};

/**
 * Reads the LLM variables: null without `LLM_BASE_URL` (template writer); otherwise an http(s)
 * URL and `LLM_MODEL` are required and `LLM_TIMEOUT_MS` must be a positive integer, each
 * failure invalid_input naming the variable. Call at start-up.
 */
export function llmSettingsFromEnv(env: LlmEnv): LlmSettings | null {
  const baseUrl = blank(env.LLM_BASE_URL);
  if (baseUrl === undefined) return null;
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch (e) {
    throw invalidInput(`LLM_BASE_URL "${redactUserInfo(baseUrl)}" is not a URL`, { hint: 'use the API root, e.g. http://127.0.0.1:11434/v1', cause: e });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw invalidInput(`LLM_BASE_URL "${redactUrl(baseUrl)}" must be an http(s) URL`, { hint: 'use the API root, e.g. https://api.openai.com/v1' });
  }
  const model = blank(env.LLM_MODEL);
  if (model === undefined) {
    throw invalidInput('LLM_MODEL is not set but LLM_BASE_URL is', { hint: 'set LLM_MODEL to a model the server serves (e.g. gpt-4o-mini, llama3.2)' });
  }
  const rawTimeout = blank(env.LLM_TIMEOUT_MS);
  let timeoutMs: number = LLM_DEFAULTS.timeoutMs;
  if (rawTimeout !== undefined) {
    timeoutMs = Number(rawTimeout);
    if (!/^\d+$/.test(rawTimeout) || timeoutMs < 1 || timeoutMs > 600_000) {
      throw invalidInput(`LLM_TIMEOUT_MS must be an integer number of milliseconds between 1 and 600000, got "${rawTimeout}"`);
    }
  }
  return { baseUrl, model, apiKey: blank(env.LLM_API_KEY), timeoutMs };
}

/** The provider for `settings`: the template writer, or the chat-completions client falling back to it. */
export function createLlmProvider(
  settings: LlmSettings | null,
  deps: { fetch?: typeof fetch; now?: () => number } = {},
): LlmProvider {
  const template = createTemplateProvider(deps);
  if (settings === null) return template;
  return withFallback(createOpenAiCompatibleProvider({ ...settings, ...deps }), template, deps);
}

// ---- helpers ----------------------------------------------------------------------------------

/** The errno behind a failed fetch (undici wraps it in `cause`). */
function networkCode(e: unknown): string {
  return errnoOf(e) ?? (e instanceof Error ? e.message : 'network error');
}
