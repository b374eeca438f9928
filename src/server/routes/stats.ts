/** GET /stats: serves, rewards and latency per policy and variant; reactions per prompt version. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Serving } from '../serving/serving.js';
import { ERROR_RESPONSES, StatsResponse } from '../schemas.js';

/** Registers /stats. */
export const statsRoutes: FastifyPluginAsyncTypebox<{ serving: Serving }> = async (app, { serving }) => {
  app.get(
    '/stats',
    { schema: { summary: 'Online statistics since the process started', response: { 200: StatsResponse, ...ERROR_RESPONSES } } },
    async () => serving.stats(),
  );
};
