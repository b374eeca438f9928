/**
 * POST /admin/reload and /admin/reset, behind `Authorization: Bearer <OO_ML_ADMIN_TOKEN>`.
 * Without a configured token both answer 404 (disabled: the routes do not exist for clients);
 * with one, a missing or wrong token answers 401.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notFound } from '../../errors.js';
import { HttpError } from '../http-error.js';
import type { Serving } from '../serving/serving.js';
import { ERROR_RESPONSES, ReloadResponse, ResetBody, ResetResponse } from '../schemas.js';

// Compare digests, not the strings: equal lengths for timingSafeEqual, and no early exit.
const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Registers the admin routes. */
export const adminRoutes: FastifyPluginAsyncTypebox<{ serving: Serving; token: string | undefined }> = async (app, { serving, token }) => {
  const expected = token === undefined || token === '' ? null : digest(token);
  app.addHook('onRequest', async (request) => {
    if (expected === null) {
      throw notFound(`${request.url} is disabled`, { hint: 'set OO_ML_ADMIN_TOKEN to enable the admin endpoints' });
    }
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (match === null || !timingSafeEqual(digest(match[1]!.trim()), expected)) {
      // Who knocked, for whoever watches the log for it.
      request.log.warn({ remoteAddress: request.ip, url: request.url }, 'admin request refused: missing or wrong token');
      throw new HttpError(401, 'unauthorized', 'missing or wrong admin token', 'send Authorization: Bearer $OO_ML_ADMIN_TOKEN');
    }
  });
  app.post(
    '/admin/reload',
    {
      schema: {
        summary: 'Reload snapshot and policies, swapped in atomically',
        security: [{ bearer: [] }],
        response: { 200: ReloadResponse, ...ERROR_RESPONSES },
      },
    },
    async () => ({ reloaded: true as const, ...(await serving.reload()) }),
  );
  app.post(
    '/admin/reset',
    {
      schema: {
        summary: 'Forget online learning (back to the registered states) and pending serves',
        security: [{ bearer: [] }],
        body: ResetBody,
        response: { 200: ResetResponse, ...ERROR_RESPONSES },
      },
      // The body is optional: a bare POST (no content, or an empty one typed JSON) is a reset without a reason.
      config: { optionalBody: true },
      preValidation: (request, _reply, done) => {
        request.body ??= {};
        done();
      },
    },
    async (request) => ({ reset: true as const, ...(await serving.reset(request.body?.reason ?? null)) }),
  );
};
