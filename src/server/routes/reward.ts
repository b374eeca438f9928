/**
 * POST /reward: the reward of a serve, applied once to the policy that served it. A repeat for
 * the same serve_id answers 200 with `applied: false` (idempotent, so a client may retry); an
 * unknown or expired serve_id 404; a shadow serve 409.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Serving } from '../serving/serving.js';
import { ERROR_RESPONSES, RewardBody, RewardResponse } from '../schemas.js';

/** Registers /reward. */
export const rewardRoutes: FastifyPluginAsyncTypebox<{ serving: Serving }> = async (app, { serving }) => {
  app.post(
    '/reward',
    {
      schema: {
        summary: 'Reward a serve (a reaction, or a reward in [0, 1])',
        body: RewardBody,
        response: { 200: RewardResponse, ...ERROR_RESPONSES },
      },
    },
    (request) => serving.reward(request.body),
  );
};
