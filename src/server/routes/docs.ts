/** GET /docs/json: the OpenAPI document (@fastify/swagger, built from the route schemas). */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';

/** Registers /docs/json (hidden from the document itself). */
export const docsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/docs/json', { schema: { hide: true } }, async () => app.swagger());
};
