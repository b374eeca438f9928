/** The README's "Online experiments" is what an operator writes an experiments file from: its example must be one the server reads. */
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExperimentsConfig } from '../../src/experiments/assignment.js';
import { readExperiments } from '../../src/server/experiments-source.js';
import { tempDir } from '../helpers/temp-home.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = README.slice(README.indexOf('## Online experiments'), README.indexOf('## Data at rest'));

describe('README, "Online experiments"', () => {
  it("has an example file the server reads as it is written: one experiment, its variants' policies and weights", async () => {
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(yaml, 'a yaml block in the section').toBeDefined();
    const file = join(await tempDir(), 'experiments.yaml');
    await writeFile(file, yaml!);
    const config = await readExperiments(file);
    expect(config.experiments).toHaveLength(1);
    expect(config.experiments[0]!.variants.map((v) => [v.name, v.weight, v.policy])).toEqual([
      ['control', 90, 'tip-policy@champion'],
      ['treatment', 10, 'tip-policy@candidate'],
    ]);
  });

  it("names every field of the file's schema", () => {
    const schema = ExperimentsConfig as unknown as { properties: Record<string, { items?: { properties: Record<string, { items?: { properties: Record<string, unknown> } }> } }> };
    const experiment = schema.properties['experiments']!.items!.properties;
    const fields = [...Object.keys(schema.properties), ...Object.keys(experiment), ...Object.keys(experiment['variants']!.items!.properties)];
    for (const field of new Set(fields)) expect(section, field).toMatch(new RegExp(`\\b${field}:`));
  });
});
