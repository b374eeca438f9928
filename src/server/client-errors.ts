/**
 * What the server answers a client whose request never became one (it did not arrive in time,
 * its headers were too large, it was not HTTP): Fastify's own answer, in the shape of every other
 * error (`{error, message, details}`, and `nosniff`), then the connection closes.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Node's HTTP server timeouts for a request timeout (0: none): Node reads them when the server is
 * made (set later, they are not checked), headers keep its own 60 s bound within the request's,
 * and expired requests are looked for every second rather than every 30 s.
 */
export function httpServerTimeouts(requestTimeoutMs: number): { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number } {
  return {
    requestTimeout: requestTimeoutMs,
    headersTimeout: requestTimeoutMs > 0 ? Math.min(60_000, requestTimeoutMs) : 60_000,
    connectionsCheckingInterval: requestTimeoutMs > 0 ? Math.min(1_000, requestTimeoutMs) : 30_000,
  };
}

/** The raw answer to a client error `code` (Node's error code), with the request timeout it names. */
export function clientErrorResponse(code: string | undefined, requestTimeoutMs: number): string {
  const [status, message] =
    code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, `the request did not arrive within ${requestTimeoutMs} ms`]
      : code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'the request headers are too large']
        : [400, 'the request is malformed'];
  const body = JSON.stringify({ error: 'invalid_input', message, details: { code: code ?? null } });
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n` +
    `Connection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** Fastify's `clientErrorHandler` over `clientErrorResponse`; a reset connection gets nothing. */
export function clientErrorHandler(requestTimeoutMs: number): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    if (socket.writable) socket.write(clientErrorResponse(err.code, requestTimeoutMs));
    socket.destroy(err);
  };
}
