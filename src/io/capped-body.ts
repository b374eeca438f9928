/**
 * An HTTP response body read with a byte cap: a server that answers without end (broken, or
 * hostile) must not take the process's memory with it. The declared length is refused at once;
 * a body that grows past the cap is cancelled as soon as it does.
 */

/** The body of `res` (all of it), or null once it is, or says it will be, over `max` bytes. */
export async function readCappedBody(res: Response, max: number): Promise<Uint8Array | null> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel();
    return null;
  }
  if (res.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > max) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}
