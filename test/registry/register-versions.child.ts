/**
 * Child process of the concurrency test: waits for the start signal (a file appearing), then
 * registers `count` versions of one model in the file store at `root`, printing each number.
 * Run with `node --import tsx`.
 */
import { access } from 'node:fs/promises';
import { createFileStore } from '../../src/registry/file-store.js';

const [root = '', model = '', countText = '0', goFile = '', label = 'child'] = process.argv.slice(2);

async function waitFor(path: string): Promise<void> {
  for (;;) {
    try {
      await access(path);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 5));
    }
  }
}

const store = createFileStore(root);
process.stdout.write('ready\n');
await waitFor(goFile);
const versions: number[] = [];
for (let i = 0; i < Number(countText); i++) {
  const v = await store.createModelVersion(model, `file:///tmp/${label}/${i}`, '', `${label} #${i}`, { writer: label, index: String(i) });
  versions.push(v.version);
}
process.stdout.write(`${JSON.stringify({ label, versions })}\n`);
