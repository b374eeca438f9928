/**
 * The API's documentation: GET /docs, a browsable page (Swagger UI, its assets served from the
 * installed package: nothing is fetched from the network, and the online validator badge is
 * off), and GET /docs/json (and /docs/yaml), the OpenAPI document @fastify/swagger builds from
 * the route schemas.
 */
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

/** Registers /docs, /docs/json and /docs/yaml (hidden from the document itself). */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: true },
    validatorUrl: false,
    staticCSP: true,
    // Served over plain http on a non-local address, `upgrade-insecure-requests` makes a browser
    // fetch the page's assets over https, which this server does not speak: a blank page. The
    // validator's host is not asked either (validatorUrl: false).
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, '').replace(' validator.swagger.io', ''),
  });
}
