/** POST /generate: tip text from the TipWriter (choosing and recording an arm when none is given). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Serving } from '../serving/serving.js';
import { ERROR_RESPONSES, GenerateBody, GenerateResponse } from '../schemas.js';

/** Registers /generate. */
export const generateRoutes: FastifyPluginAsyncTypebox<{ serving: Serving }> = async (app, { serving }) => {
  app.post(
    '/generate',
    {
      schema: {
        summary: 'Write the tip text for an arm',
        body: GenerateBody,
        response: { 200: GenerateResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => serving.generate(request.body),
  );
};
