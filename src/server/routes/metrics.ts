/** GET /metrics: Prometheus text exposition. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import Type from 'typebox';
import type { Serving } from '../serving/serving.js';
import { ERROR_RESPONSES } from '../schemas.js';

/** Registers /metrics. */
export const metricsRoutes: FastifyPluginAsyncTypebox<{ serving: Serving }> = async (app, { serving }) => {
  const { registry } = serving.metrics;
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', response: { 200: Type.String(), ...ERROR_RESPONSES } } },
    async (_request, reply) => {
      void reply.type(registry.contentType);
      return registry.metrics();
    },
  );
};
