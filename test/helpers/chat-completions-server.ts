/**
 * A real loopback server speaking the OpenAI chat-completions protocol, for the LLM gateway's
 * tests: node:http on 127.0.0.1 (port 0), `POST /v1/chat/completions` only. It checks what a
 * real server checks — JSON content type, a well-formed body with exactly the fields oo-ml sends
 * ({model, messages, max_tokens, temperature}), the served model name, and (when configured) the
 * `Authorization: Bearer <key>` header — answering OpenAI's error shape otherwise. Faults can be
 * queued per request: slow (answers after a delay), 500, 429, malformed JSON, empty choices,
 * null content, a 502 whose body echoes the request's Authorization header (as some gateways
 * do), and a huge answer streamed until the client stops reading. Every request is recorded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Type, { type Static } from 'typebox';
import { createValidator } from '../../src/validation.js';

/** One request as the server saw it. */
export interface RecordedChatRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  /** The parsed body (undefined when it was not JSON). */
  body: unknown;
}

/** What the next request gets instead of a normal answer. */
export type ChatFault =
  | { kind: 'slow'; ms: number }
  | { kind: 'status500' }
  | { kind: 'status429' }
  | { kind: 'malformed' }
  | { kind: 'emptyChoices' }
  | { kind: 'nullContent' }
  | { kind: 'echoAuth' }
  /** A normal answer that names `model` as the model that wrote it. */
  | { kind: 'model'; model: string }
  /** `bytes` of a JSON-looking answer in 64 KiB chunks; with `declare`, a Content-Length says so up front. */
  | { kind: 'huge'; bytes: number; declare: boolean };

/** Options of the test server. */
export interface ChatServerOptions {
  /** Model names the server serves (default ['test-model']). */
  models?: string[];
  /** When set, every request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** The assistant's answer for a request (default a fixed sentence). */
  reply?: (request: ChatRequest) => string;
}

/** A running server. */
export interface ChatCompletionsServer {
  /** The API root to give a client as LLM_BASE_URL (`http://127.0.0.1:<port>/v1`). */
  readonly baseUrl: string;
  readonly requests: RecordedChatRequest[];
  /** Queues `fault` for the next `count` (default 1) requests. */
  inject(fault: ChatFault, count?: number): void;
  /** Bytes of the last huge answer written before its connection closed. */
  readonly hugeSent: number;
  close(): Promise<void>;
}

const Message = Type.Object(
  { role: Type.Union([Type.Literal('system'), Type.Literal('user'), Type.Literal('assistant')]), content: Type.String() },
  { additionalProperties: false },
);
/** The request body oo-ml sends; anything else is a 400. */
const ChatRequest = Type.Object(
  {
    model: Type.String({ minLength: 1 }),
    messages: Type.Array(Message, { minItems: 1 }),
    max_tokens: Type.Integer({ minimum: 1 }),
    temperature: Type.Number({ minimum: 0, maximum: 2 }),
  },
  { additionalProperties: false },
);
type ChatRequest = Static<typeof ChatRequest>;
const requestValidator = createValidator(ChatRequest);

/** Starts a server on 127.0.0.1 with a free port. */
export async function startChatCompletionsServer(options: ChatServerOptions = {}): Promise<ChatCompletionsServer> {
  const models = options.models ?? ['test-model'];
  const reply = options.reply ?? (() => 'Split the report into three small steps and start with the outline.');
  const requests: RecordedChatRequest[] = [];
  const faults: { fault: ChatFault; remaining: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let completions = 0;
  let hugeSent = 0;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => onRequest(req, res, Buffer.concat(chunks).toString('utf8')));
  });

  function onRequest(req: IncomingMessage, res: ServerResponse, raw: string): void {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const contentType = req.headers['content-type'];
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = undefined;
    }
    requests.push({ method: req.method ?? '', path, authorization: req.headers.authorization, contentType, body });

    if (path !== '/v1/chat/completions') return sendError(res, 404, `Unknown request URL: ${req.method} ${path}`, 'invalid_request_error', 'unknown_url');
    if (req.method !== 'POST') return sendError(res, 405, `Method ${req.method} not allowed`, 'invalid_request_error', null);
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendError(res, 401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
    }
    if (contentType?.startsWith('application/json') !== true) return sendError(res, 400, 'Content-Type must be application/json', 'invalid_request_error', null);
    if (body === undefined) return sendError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
    if (!requestValidator.check(body)) {
      const issues = requestValidator.issues(body).map((i) => `${i.path}: ${i.message}`).join('; ');
      return sendError(res, 400, `Invalid request: ${issues}`, 'invalid_request_error', null);
    }
    if (!models.includes(body.model)) {
      return sendError(res, 404, `The model \`${body.model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found');
    }
    const request = body;
    const fault = takeFault();
    switch (fault?.kind) {
      case undefined:
        return sendCompletion(res, request, reply(request));
      case 'slow': {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.destroyed) sendCompletion(res, request, reply(request));
        }, fault.ms);
        timers.add(t);
        return;
      }
      case 'model':
        return sendCompletion(res, request, reply(request), fault.model);
      case 'status500':
        return sendError(res, 500, 'The server had an error while processing your request.', 'server_error', null);
      case 'status429':
        res.setHeader('Retry-After', '20');
        return sendError(res, 429, 'Rate limit reached for requests.', 'requests', 'rate_limit_exceeded');
      case 'malformed':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"id": "chatcmpl-broken", "choices": [{"message": {"content": "cut off');
        return;
      case 'emptyChoices':
        return sendJson(res, 200, { ...completionEnvelope(request), choices: [] });
      case 'echoAuth':
        return sendJson(res, 502, { error: { message: `upstream failed for request with Authorization: ${req.headers.authorization ?? ''}` } });
      case 'huge': {
        res.writeHead(200, { 'Content-Type': 'application/json', ...(fault.declare ? { 'Content-Length': String(fault.bytes) } : {}) });
        const chunk = Buffer.alloc(65_536, 0x20);
        let sent = 0;
        const pump = (): void => {
          while (sent < fault.bytes && !res.destroyed) {
            const n = Math.min(chunk.length, fault.bytes - sent);
            sent += n;
            if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
              res.once('drain', pump);
              return;
            }
          }
          if (!res.destroyed) res.end();
        };
        res.on('close', () => (hugeSent = sent));
        pump();
        return;
      }
      case 'nullContent':
        return sendJson(res, 200, {
          ...completionEnvelope(request),
          choices: [{ index: 0, message: { role: 'assistant', content: null }, finish_reason: 'stop' }],
        });
    }
  }

  function takeFault(): ChatFault | undefined {
    const entry = faults.find((f) => f.remaining > 0);
    if (entry === undefined) return undefined;
    entry.remaining -= 1;
    return entry.fault;
  }

  function completionEnvelope(request: ChatRequest): Record<string, unknown> {
    completions += 1;
    return { id: `chatcmpl-${completions}`, object: 'chat.completion', created: 1_767_225_600 + completions, model: request.model };
  }

  function sendCompletion(res: ServerResponse, request: ChatRequest, content: string, model = request.model): void {
    const promptTokens = request.messages.reduce((n, m) => n + Math.ceil(m.content.length / 4), 0);
    const completionTokens = Math.ceil(content.length / 4);
    sendJson(res, 200, {
      ...completionEnvelope(request),
      model,
      system_fingerprint: 'fp_test',
      choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    });
  }

  function sendJson(res: ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(value));
  }

  function sendError(res: ServerResponse, status: number, message: string, type: string, code: string | null): void {
    sendJson(res, status, { error: { message, type, param: null, code } });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    get hugeSent() {
      return hugeSent;
    },
    inject(fault, count = 1) {
      faults.push({ fault, remaining: count });
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
