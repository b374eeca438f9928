/** POST /score: a decision for a user, recorded as a tip.served event. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Serving } from '../serving/serving.js';
import { ERROR_RESPONSES, ScoreBody, ScoreResponse } from '../schemas.js';

/** Registers /score; the app's onSend hook records its latency in the row it counted in. */
export const scoreRoutes: FastifyPluginAsyncTypebox<{ serving: Serving }> = async (app, { serving }) => {
  app.post(
    '/score',
    {
      schema: {
        summary: 'Choose a tip arm for a user',
        body: ScoreBody,
        response: { 200: ScoreResponse, ...ERROR_RESPONSES },
      },
    },
    // The decision writes its stats row into the request itself (no `.then` here).
    (request) => serving.scoreInto(request.body, request),
  );
};
