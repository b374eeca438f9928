/**
 * The tip writer: prompt selection (prompt-registry.ts) + rendering + the configured provider
 * (llm-provider.ts), in one call. What it returns is what `/generate` answers: the text, the
 * prompt version actually used, and the writer and model actually used (the template after a
 * fallback, with the reason). The serve event, recorded when the decision is made and before
 * any text is written, carries the prompt version only: which writer wrote a served tip is in
 * /generate's answer and on /metrics, not in the event log.
 */
import { asUsage } from '../errors.js';
import { createLlmProvider, llmSettingsFromEnv, type LlmEnv, type LlmProvider, type LlmSettings, type ProviderName } from './llm-provider.js';
import type { TipContext } from './prompt-context.js';
import {
  promptSettingsFromEnv,
  renderPrompt,
  selectPromptVersion,
  type PromptEnv,
  type PromptSettings,
  type PromptSource,
  type PromptVersion,
} from './prompt-registry.js';

/** Everything the writer is configured with (from the environment, see `tipWriterSettingsFromEnv`). */
export interface TipWriterSettings {
  prompts: PromptSettings;
  /** null → the embedded template writer. */
  llm: LlmSettings | null;
}

/** Injected side effects; `fetch` and `now` default to the real ones. */
export interface TipWriterDeps {
  /**
   * 32-bit string hash of the prompt rotation: xxhash32 in production (`loadXxhash32`), the same
   * hash as experiment assignment, so every replica puts a user in the same slot. Required
   * because the rotation is read on the /score hot path, synchronously.
   */
  hash32: (s: string) => number;
  fetch?: typeof fetch;
  now?: () => number;
}

/** One tip to write. */
export interface TipRequest {
  userId: string;
  /** An arm id (features/arms.ts); an unknown one is invalid_input. */
  arm: string;
  context: TipContext;
  /** The request's `prompt_version` (none named when null, undefined or blank). */
  promptVersion?: string | null;
}

/** A written tip, in wire names (it goes into `/generate` answers and serve events as is). */
export interface WrittenTip {
  text: string;
  prompt_version: PromptVersion;
  /** Which rule chose the version: request, rotation, default or builtin. */
  prompt_source: PromptSource;
  provider: ProviderName;
  model: string;
  latency_ms: number;
  fallback_reason?: string;
}

/** Writes tips. */
export interface TipWriter {
  /** The configured provider (a result may still come from the template after a fallback). */
  readonly provider: ProviderName;
  /** Selects the prompt, renders it and writes the tip; invalid_input for an unknown version, arm or field. */
  write(request: TipRequest): Promise<WrittenTip>;
  /** The version a tip for `userId` gets when the request names none (recorded on the serve). */
  promptVersionFor(userId: string): PromptVersion;
}

/** Reads and validates every writer variable (DEFAULT_PROMPT_VERSION, TIP_PROMPT_VERSION, LLM_*). */
export function tipWriterSettingsFromEnv(env: PromptEnv & LlmEnv): TipWriterSettings {
  // A bad variable is bad usage (exit 2), as LOG_LEVEL and the other variables are (config.ts).
  return asUsage(() => ({ prompts: promptSettingsFromEnv(env), llm: llmSettingsFromEnv(env) }));
}

/** A writer over `settings`; with an LLM configured, failures fall back to the template writer. */
export function createTipWriter(settings: TipWriterSettings, deps: TipWriterDeps): TipWriter {
  const provider: LlmProvider = createLlmProvider(settings.llm, {
    ...(deps.fetch === undefined ? {} : { fetch: deps.fetch }),
    ...(deps.now === undefined ? {} : { now: deps.now }),
  });
  return {
    provider: provider.name,
    promptVersionFor: (userId) => selectPromptVersion(settings.prompts, { userId }, deps.hash32).version,
    async write(request) {
      const selection = selectPromptVersion(settings.prompts, request, deps.hash32);
      const prompt = renderPrompt(selection.version, request.arm, request.context);
      const g = await provider.generate(prompt);
      return {
        text: g.text,
        prompt_version: selection.version,
        prompt_source: selection.source,
        provider: g.provider,
        model: g.model,
        latency_ms: Math.round(g.latencyMs),
        ...(g.fallbackReason === undefined ? {} : { fallback_reason: g.fallbackReason }),
      };
    },
  };
}
