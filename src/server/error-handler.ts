/**
 * The one place HTTP errors are shaped: every error response is `{error, message, hint?,
 * details}`. OoMlErrors get their status from errors.ts's HTTP_STATUS table; Fastify's own client
 * errors (body too large 413, unsupported media type 415…) keep Fastify's status and become
 * `invalid_input`, the body's in our words with one `{path: "/", message}` (malformed JSON is
 * the parser's, app.ts); schema violations become 400 `invalid_input` with one
 * `{path, message}` per field. Client mistakes are logged at info without a stack; only a bug
 * (anything else → 500 `internal`) is logged with its stack and answered by its request id alone
 * (`internalError`).
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { HTTP_STATUS, OoMlError } from '../errors.js';
import { plainIssueMessage } from '../validation.js';
import { HttpError } from './http-error.js';
import type { ErrorBody } from './schemas.js';

interface AjvIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * One `{path, message}` per bad field (unknown and missing fields named in the path). A nullable
 * field is a union, and ajv reports every branch plus the union itself; the first concrete
 * message per path is the useful one, and a parent's union failure adds nothing to a child's.
 */
export function validationIssues(issues: readonly AjvIssue[]): { path: string; message: string }[] {
  const byPath = new Map<string, string>();
  for (const e of issues) {
    if (e.keyword === 'anyOf') continue;
    const base = e.instancePath ?? '';
    const params = e.params ?? {};
    let path = base === '' ? '/' : base;
    let message = e.message ?? 'is invalid';
    if (e.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') {
      path = `${base}/${params['additionalProperty']}`;
      message = 'unknown field';
    } else if (e.keyword === 'required' && typeof params['missingProperty'] === 'string') {
      path = `${base}/${params['missingProperty']}`;
      message = 'required field is missing';
    } else {
      message = plainIssueMessage(e.keyword, params) ?? message;
    }
    if (!byPath.has(path)) byPath.set(path, message);
  }
  const paths = [...byPath.keys()];
  return paths
    .filter((p) => !paths.some((q) => q !== p && q.startsWith(p === '/' ? '/' : `${p}/`)))
    .map((path) => ({ path, message: byPath.get(path)! }));
}

function send(reply: FastifyReply, status: number, body: ErrorBody): void {
  void reply.code(status).send(body);
}

/** Fastify error handler. */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (error instanceof OoMlError) {
    const status = HTTP_STATUS[error.code];
    if (error.code === 'internal') return internalError(error, request, reply);
    request.log.info({ code: error.code, status }, error.message);
    send(reply, status, { ...error.toJSON(), details: error.details ?? null });
    return;
  }
  if (error instanceof HttpError) {
    request.log.info({ code: error.error, status: error.status }, error.message);
    send(reply, error.status, { error: error.error, message: error.message, ...(error.hint === undefined ? {} : { hint: error.hint }), details: error.details });
    return;
  }
  const fe = error as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (Array.isArray(fe.validation)) {
    const details = validationIssues(fe.validation);
    const message = `${fe.validationContext ?? 'request'} is invalid: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`;
    request.log.info({ code: 'invalid_input', status: 400 }, message);
    send(reply, HTTP_STATUS.invalid_input, { error: 'invalid_input', message, details });
    return;
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  const bodyIssue = bodyIssueOf(fe.code, request);
  if (bodyIssue !== null) {
    request.log.info({ code: fe.code, status }, bodyIssue.message);
    send(reply, status, { error: 'invalid_input', message: bodyIssue.message, details: [{ path: '/', message: bodyIssue.issue }] });
    return;
  }
  if (status >= 400 && status < 500) {
    request.log.info({ code: fe.code, status }, fe.message);
    send(reply, status, { error: 'invalid_input', message: fe.message, details: { code: fe.code ?? null } });
    return;
  }
  internalError(error, request, reply);
}

/**
 * Fastify's refusals of a body (its type, its size) in our words and shape: what was wrong and
 * what to send, one `{path: "/", message}` as for a field. Null for any other error.
 */
function bodyIssueOf(code: string | undefined, request: FastifyRequest): { message: string; issue: string } | null {
  switch (code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = request.headers['content-type'];
      const issue = type === undefined ? 'no content-type' : `content-type "${type}" is not accepted`;
      return { message: `${issue}: send the body as JSON with content-type application/json`, issue };
    }
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const issue = `larger than ${request.routeOptions.bodyLimit} bytes`;
      return { message: `body is ${issue}`, issue };
    }
    default:
      return null;
  }
}

/**
 * A bug: logged whole, answered without its message (which may name the state folder's paths or
 * what a dependency said), with the request's id to find it in the log.
 */
function internalError(error: Error, request: FastifyRequest, reply: FastifyReply): void {
  request.log.error({ err: error }, `unhandled error: ${error.message}`);
  send(reply, HTTP_STATUS.internal, { error: 'internal', message: `internal error; the server's log has it under request id ${request.id}`, details: { request_id: request.id } });
}
