/**
 * What JetStream answered to a publish, read from the answer's bytes. nats-server writes a PubAck
 * from a template, not through a JSON encoder:
 *
 *     {"stream":"<name>", "seq":<n>}        or        {"stream":"<name>", "seq":<n>,"duplicate": true}
 *
 * (the spaces are the server's). Those two shapes, and the same without the spaces, are read
 * byte by byte here, without decoding the text or building an object: every /score on NATS
 * waits for one (BENCHMARKS.md, "PubAcks read from their bytes"). Anything else — a domain,
 * fields of later servers, an escape in the stream's name, an API error — goes to `JSON.parse`,
 * which reads every shape the same way (test/events/pub-ack.test.ts holds the two paths equal;
 * the publisher's test reads a real server's PubAcks without `JSON.parse`).
 */

/** An answer read: the stored (or de-duplicated) message's sequence, or why it is not a PubAck. */
export type PubAckReading = { ok: true; seq: number; duplicate: boolean } | { ok: false; refusal: string };

const HEAD = bytesOf('{"stream":"');
const SEQ = [bytesOf('", "seq":'), bytesOf('","seq":')];
const DUPLICATE_END = [bytesOf(',"duplicate": true}'), bytesOf(',"duplicate":true}')];
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE = 0x7d;
const decoder = new TextDecoder();

/** The PubAck in `data`, or the refusal it holds instead. */
export function readPubAck(data: Uint8Array): PubAckReading {
  return commonPubAck(data) ?? parsedPubAck(data);
}

/** The two common shapes (with or without the server's spaces), or null for any other bytes. */
function commonPubAck(data: Uint8Array): PubAckReading | null {
  if (!startsAt(data, 0, HEAD)) return null;
  let i = HEAD.length;
  // The stream's name: any bytes but a quote, an escape or a control character (those go to JSON.parse).
  while (i < data.length && data[i] !== QUOTE) {
    if (data[i] === BACKSLASH || data[i]! < 0x20) return null;
    i++;
  }
  let seqKey = 0;
  for (const k of SEQ) if (seqKey === 0 && startsAt(data, i, k)) seqKey = k.length;
  if (seqKey === 0) return null;
  i += seqKey;
  const from = i;
  let seq = 0;
  while (i < data.length && data[i]! >= 0x30 && data[i]! <= 0x39) seq = seq * 10 + (data[i++]! - 0x30);
  // JSON numbers have no leading zeros (but 0 itself); below 2^53 the sum above is exact.
  if (i === from || (data[from] === 0x30 && i - from > 1) || !Number.isSafeInteger(seq)) return null;
  if (i === data.length - 1 && data[i] === CLOSE) return { ok: true, seq, duplicate: false };
  for (const end of DUPLICATE_END) if (i + end.length === data.length && startsAt(data, i, end)) return { ok: true, seq, duplicate: true };
  return null;
}

/** Any answer, through JSON.parse. */
function parsedPubAck(data: Uint8Array): PubAckReading {
  const notPubAck = (): PubAckReading => ({ ok: false, refusal: `JetStream answered with something that is not a PubAck (${data.length} bytes)` });
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(data));
  } catch {
    return notPubAck();
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return notPubAck();
  const { seq, duplicate, error } = body as { seq?: unknown; duplicate?: unknown; error?: { description?: unknown } | null };
  if (error !== undefined) {
    return { ok: false, refusal: `JetStream refused the message: ${String(error?.description ?? 'no description')}` };
  }
  if (typeof seq !== 'number') return { ok: false, refusal: 'JetStream answered with a PubAck that has no sequence' };
  return { ok: true, seq, duplicate: duplicate === true };
}

function startsAt(data: Uint8Array, at: number, bytes: Uint8Array): boolean {
  if (at + bytes.length > data.length) return false;
  for (let k = 0; k < bytes.length; k++) if (data[at + k] !== bytes[k]) return false;
  return true;
}

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
