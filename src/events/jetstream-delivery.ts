/**
 * The stream sequence and delivery count of a JetStream delivery, read from its reply subject.
 * nats.js's `JsMsg.info` splits the subject into all of its tokens and builds an info object
 * for every message a durable consumer receives; the bus needs two numbers of it. JetStream's
 * ack subjects (ADR-15):
 *
 *     $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>      (9 tokens)
 *     $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<stream seq>.…         (11 or more)
 *
 * A subject of any other shape gives null, and the caller asks nats.js.
 */

/** What the bus reads of a delivery's reply subject. */
export interface DeliveryNumbers {
  seq: number;
  deliveryCount: number;
}

const PREFIX = '$JS.ACK.';
/** Most tokens after the prefix this reads (v2 subjects may grow tokens at their end). */
const MAX_DOTS = 32;
/** Positions of the dots after the prefix (one subject at a time). */
const dots = new Int32Array(MAX_DOTS);

/** The delivery count and stream sequence in `reply`, or null when it is not a JetStream ack subject this reads. */
export function deliveryNumbersOf(reply: string): DeliveryNumbers | null {
  if (!reply.startsWith(PREFIX)) return null;
  let n = 0;
  for (let i = PREFIX.length; i < reply.length; i++) {
    if (reply.charCodeAt(i) !== 46) continue;
    if (n === MAX_DOTS) return null;
    dots[n++] = i;
  }
  // Tokens after the prefix: n + 1. <delivered> is the 3rd of 7 (v1) or the 5th of 9 or more (v2).
  const delivered = n + 1 === 7 ? 2 : n + 1 >= 9 ? 4 : -1;
  if (delivered < 0) return null;
  const deliveryCount = digits(reply, dots[delivered - 1]! + 1, dots[delivered]!);
  const seq = digits(reply, dots[delivered]! + 1, dots[delivered + 1]!);
  return deliveryCount < 0 || seq < 0 ? null : { seq, deliveryCount };
}

/** The decimal number `s` holds in [from, to), or -1 when it is empty, not all digits or past the safe integers. */
function digits(s: string, from: number, to: number): number {
  if (to <= from) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return Number.isSafeInteger(n) ? n : -1;
}
