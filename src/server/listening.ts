/** What a listen did, as the user reads it: the URL it bound, or its failure naming the port or host they gave. */
import type { AddressInfo } from 'node:net';
import { conflict, invalidUsage } from '../errors.js';

/** `http://host:port` of a bound address (an IPv6 host in brackets). */
export function urlOf(address: AddressInfo): string {
  return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
}

/** What a failed listen means for the user: the port or the host they gave, named (`flags`: which flags gave them). */
export function listenError(e: unknown, host: string, port: number, flags: { port: string; host: string } = { port: '--port', host: '--host' }): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  switch (code) {
    // Another program holds the port: a conflict (exit 1), not a mistyped flag.
    case 'EADDRINUSE':
      return conflict(`cannot listen on ${where}: the port is in use`, { hint: `choose another ${flags.port} (0 picks a free one), or stop what listens there` });
    case 'EACCES':
      return invalidUsage(`cannot listen on ${where}: permission denied`, { hint: `ports below 1024 need privileges; choose another ${flags.port}` });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EINVAL':
    case 'EAFNOSUPPORT':
      return invalidUsage(`cannot listen on ${where}: no local address for host "${host}"`, {
        hint: `give ${flags.host} an address or name of this machine, e.g. 127.0.0.1 or ::1 (IPv6 without brackets; a link-local one with its zone, fe80::1%eth0)`,
      });
    default:
      return e;
  }
}
