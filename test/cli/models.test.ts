import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/registry/file-store.js';
import { runCli } from '../helpers/cli.js';
import { tempHome } from '../helpers/temp-home.js';

describe('oo-ml models (CLI)', () => {
  it('lists models, versions, aliases and headline metrics from the registry', async () => {
    const h = await tempHome();
    const store = createFileStore(h.mlruns);
    const exp = await store.getOrCreateExperiment('oo-ml-train');
    const run = await store.createRun(exp.experimentId, { runName: 'train-linucb' });
    await store.logBatch(run.info.runId, {
      params: [{ key: 'policy', value: 'linucb' }],
      metrics: [
        { key: 'ope/dr', value: 0.41 },
        { key: 'ope/dr_ci_low', value: 0.38 },
        { key: 'ope/dr_ci_high', value: 0.44 },
        { key: 'logging/value', value: 0.3 },
      ],
    });
    await store.createRegisteredModel('tip-policy');
    await store.createModelVersion('tip-policy', 'runs:/x/policy', run.info.runId);
    await store.createModelVersion('tip-policy', 'runs:/y/policy', '');
    await store.setAlias('tip-policy', 'champion', 1);
    await store.setAlias('tip-policy', 'candidate', 2);

    // A home without a registry (a mistyped --home) is reported, and no registry is made there.
    const nowhere = join(h.home, 'no-such-home');
    const noRegistry = await runCli(['models', '--home', nowhere, '--json']);
    expect([noRegistry.code, JSON.parse(noRegistry.stderr)]).toEqual([1, expect.objectContaining({ error: 'not_found', message: `no folder ${nowhere}: no MLflow registry at ${join(nowhere, 'mlruns')}` })]);
    expect(existsSync(nowhere)).toBe(false);
    // A --home that is a file, the same; and a failed promote on a mistyped home makes nothing either.
    const file = join(h.home, 'a-file');
    await writeFile(file, 'x');
    const onFile = await runCli(['models', '--home', file, '--json']);
    expect([onFile.code, JSON.parse(onFile.stderr)]).toEqual([1, expect.objectContaining({ error: 'not_found', message: expect.stringContaining(`no folder ${file}`) })]);
    const promoted = await runCli(['promote', 'tip-policy', '1', '--to', 'shadow', '--home', nowhere, '--json']);
    expect([promoted.code, JSON.parse(promoted.stderr)]).toEqual([1, expect.objectContaining({ error: 'not_found' })]);
    expect(existsSync(nowhere)).toBe(false);

    const json = await runCli(['models', '--home', h.home, '--json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { models: { name: string; aliases: Record<string, number>; versions: { version: number; policy: string | null; headline: { dr: number | null; drCi95: { low: number; high: number } | null } }[] }[] };
    expect(parsed.models).toHaveLength(1);
    expect(parsed.models[0]!.aliases).toEqual({ candidate: 2, champion: 1 });
    // The interval as every command writes one with --json (json-output.ts).
    expect(parsed.models[0]!.versions.map((v) => [v.version, v.policy, v.headline.dr, v.headline.drCi95])).toEqual([
      [1, 'linucb', 0.41, { low: 0.38, high: 0.44 }],
      [2, null, null, null],
    ]);

    const text = await runCli(['models', 'tip-policy', '--home', h.home]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/tip-policy\s+@candidate=v2 @champion=v1|tip-policy\s+@champion=v1 @candidate=v2/);
    expect(text.stdout).toMatch(/v1\s+linucb\s+\S+ \S+\s+champion\s+0\.4100 \[0\.3800, 0\.4400\]\s+0\.3000/);

    // The run is still RUNNING: shown. A version an interrupted train left: shown, then repaired.
    expect(text.stdout).toMatch(/v1\s+linucb.*run RUNNING/);
    await store.createModelVersion('tip-policy', 'runs:/z/policy', '');
    const move = { time: '2026-02-01T00:00:00.000Z', alias: 'candidate', from: 2, to: 3, reason: 'trained linucb', forced: false, figures: {} };
    await store.setModelVersionTag('tip-policy', 3, 'oo-ml.pending', JSON.stringify({ command: 'promote', time: move.time, runId: null, moves: [move] }));
    const interrupted = await runCli(['models', 'tip-policy', '--home', h.home]);
    expect(interrupted.stdout).toMatch(/v3 .*promote interrupted at 2026-02-01T00:00:00\.000Z: @candidate → v3 pending/);
    expect(interrupted.stdout).toContain('1 version(s) left by an interrupted command: `oo-ml models --repair`');
    const repaired = await runCli(['models', 'tip-policy', '--home', h.home, '--repair']);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(repaired.stdout).toContain('finished tip-policy v3 (promote): moved @candidate → v3');
    expect(repaired.stdout).not.toContain('interrupted command');
    expect((await store.getRegisteredModel('tip-policy')).aliases).toEqual({ candidate: 3, champion: 1 });
    expect((await runCli(['models', '--home', h.home, '--repair'])).stdout).toContain('nothing to repair');

    const missing = await runCli(['models', 'nope', '--home', h.home]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope');
  });

  it('says so when nothing is registered', async () => {
    const h = await tempHome();
    const r = await runCli(['models', '--home', h.home]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('no registered models');
    // Listing made no registry there.
    expect(existsSync(join(h.home, 'mlruns'))).toBe(false);
    expect(JSON.parse((await runCli(['models', '--home', h.home, '--json', '--repair'])).stdout)).toEqual({ models: [], repairs: [] });
  });
});
