/**
 * A second process for the embedded bus's writer-lock test (embedded-bus.test.ts), run as
 * `node --import tsx bus-writer-child.ts <bus dir> <once|hold>`: publishes one message to the
 * events stream through the transport and prints the outcome as one JSON line; with `hold` it
 * keeps the transport (and so the writer lock) open until its stdin closes or it is killed.
 */
import { isOoMlError } from '../../src/errors.js';
import { createEmbeddedTransport } from '../../src/events/embedded-transport.js';

const [dir, mode] = process.argv.slice(2);
if (dir === undefined || (mode !== 'once' && mode !== 'hold')) throw new Error('usage: bus-writer-child.ts <bus dir> <once|hold>');
const transport = createEmbeddedTransport(dir);
try {
  const ack = await transport.publish('signals.task.completed', Buffer.from(JSON.stringify({ from: process.pid })), `child-${process.pid}`);
  process.stdout.write(JSON.stringify({ ok: true, pid: process.pid, seq: ack.seq }) + '\n');
} catch (e) {
  if (!isOoMlError(e)) throw e;
  process.stdout.write(JSON.stringify({ ok: false, pid: process.pid, code: e.code, message: e.message, hint: e.hint }) + '\n');
}
if (mode === 'hold') {
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.on('end', resolve));
}
await transport.close();
