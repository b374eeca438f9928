/** GET /healthz (the process answers) and GET /readyz (snapshot and champion loaded, else 503 with the reasons). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Serving } from '../serving/serving.js';
import { ERROR_RESPONSES, HealthResponse, ReadyResponse } from '../schemas.js';

/** Registers /healthz and /readyz. */
export const healthRoutes: FastifyPluginAsyncTypebox<{ serving: Serving; clock: () => Date }> = async (app, { serving, clock }) => {
  app.get(
    '/healthz',
    { schema: { summary: 'Liveness', response: { 200: HealthResponse, ...ERROR_RESPONSES } } },
    async () => ({ status: 'ok' as const, uptime_s: (clock().getTime() - serving.startedAt.getTime()) / 1000 }),
  );
  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: 503 with the reasons when not ready', response: { 200: ReadyResponse, ...ERROR_RESPONSES } } },
    async () => serving.readiness(),
  );
};
