/**
 * Credentials in URLs. URLs from the environment (`LLM_BASE_URL`, `MLFLOW_TRACKING_URI`,
 * `NATS_URL`) may carry a user and password, or a token in the query. Any URL that goes into a log
 * line, an error message, a hint or an HTTP answer passes through `redactUrl` first, so a printed
 * URL still names the host and path but never the secret; a client that fetches such a URL takes
 * its user info apart with `splitUserInfo` (fetch refuses URLs that carry it).
 */

/** Query parameters whose values are secrets (lower case; matched without `-` and `_`). */
const SECRET_PARAMS = new Set(['apikey', 'key', 'token', 'accesstoken', 'authtoken', 'password', 'passwd', 'pwd', 'secret', 'clientsecret', 'signature', 'sig', 'auth', 'authorization', 'credential', 'credentials', 'xamzsignature', 'xamzcredential', 'xamzsecuritytoken']);

/** The mark that stands in for a removed secret. */
export const REDACTED = '***';

/**
 * `url` with its user info and the values of secret query parameters replaced by `***`, host,
 * path and other parameters kept. Text that is not a URL is returned with any
 * `scheme://user:pass@` part redacted all the same; comma-separated lists (a NATS cluster) are
 * redacted item by item.
 */
export function redactUrl(url: string): string {
  if (url.includes(',')) return url.split(',').map(redactUrl).join(',');
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    return redactUserInfo(url);
  }
  let changed = false;
  if (parsed.username !== '' || parsed.password !== '') {
    parsed.username = REDACTED;
    parsed.password = '';
    changed = true;
  }
  for (const name of [...parsed.searchParams.keys()]) {
    if (SECRET_PARAMS.has(name.toLowerCase().replace(/[-_]/g, ''))) {
      parsed.searchParams.set(name, REDACTED);
      changed = true;
    }
  }
  if (!changed) return url;
  // URL encodes `*` in user info as `%2A`; the mark reads better as written.
  return parsed.toString().replaceAll('%2A%2A%2A', REDACTED);
}

/** `url` without its user info, and that user info decoded (undefined when there is none, or `url` is not a URL). */
export function splitUserInfo(url: string): { url: string; username: string | undefined; password: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, username: undefined, password: undefined };
  }
  if (parsed.username === '' && parsed.password === '') return { url, username: undefined, password: undefined };
  const username = decodeURIComponent(parsed.username);
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  parsed.username = '';
  parsed.password = '';
  return { url: parsed.toString(), username, password };
}

/** `text` with every `scheme://user[:password]@` in it redacted to `scheme://***@`. */
export function redactUserInfo(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@'"]+@/gi, `$1${REDACTED}@`);
}
