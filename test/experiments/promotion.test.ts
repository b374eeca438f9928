import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { GateEvidence } from '../../src/experiments/gate.js';
import { promoteVersion, rollbackChampion, type PromoteContext } from '../../src/experiments/promotion.js';
import { createFileStore } from '../../src/registry/file-store.js';
import { appendRollout, readRollout } from '../../src/models/rollout-history.js';
import { tempHome } from '../helpers/temp-home.js';

type Given = Omit<GateEvidence, 'champion' | 'wasShadow' | 'baseline'>;
const good: Given = {
  hasOpe: true,
  simDiff: { value: 0.02, ci95: [0.01, 0.03], seeds: 5 },
  opeDiff: { value: 0.0, ci95: [-0.005, 0.005], rows: 300, data: 'the last 300 rows' },
  flaggedSegments: [],
  segmentsChecked: 3,
  shadowExposure: { serves: 2000, hours: 30, agreement: 0.5, matured: 1000, ips: null, snips: null },
};

async function setup(versions = 3) {
  const h = await tempHome();
  const store = createFileStore(h.mlruns);
  await store.createRegisteredModel('tip-policy');
  for (let i = 0; i < versions; i++) await store.createModelVersion('tip-policy', `src-${i}`, '');
  let t = Date.parse('2026-02-01T00:00:00Z');
  const asked: string[] = [];
  const ctx = (evidence: Given = good): PromoteContext => ({
    store,
    cardsDir: h.modelCards,
    now: () => new Date((t += 60_000)),
    evidence: async ({ to, champion, wasShadow, forced }) => {
      asked.push(`${to}:${champion}:${wasShadow}${forced === true ? ':forced' : ''}`);
      return { champion, wasShadow, baseline: champion === null ? 'uniform random' : `champion v${champion}`, ...evidence };
    },
  });
  return { h, store, ctx, asked };
}

describe('promotion and rollback', () => {
  it('moves candidate → shadow → champion, keeps previous-champion, records history and the card', async () => {
    const { store, ctx, h } = await setup();
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'shadow' });
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'champion' });
    await promoteVersion(ctx(), { model: 'tip-policy', version: 2, to: 'shadow' });
    const r = await promoteVersion(ctx(), { model: 'tip-policy', version: 2, to: 'champion', reason: 'better at night' });
    expect(r.aliases).toEqual({ champion: 2, 'previous-champion': 1 });
    expect(r.decision.passed).toBe(true);
    const v2 = await store.getModelVersion('tip-policy', 2);
    expect(v2.tags['oo-ml.gate.champion.passed']).toBe('true');
    expect(JSON.parse(v2.tags['oo-ml.gate.champion.figures']!)).toMatchObject({ sim_diff_ci_low: 0.01 });
    const history = await readRollout(store, 'tip-policy');
    expect(history.map((e) => `${e.alias}:${e.from}->${e.to}`)).toEqual([
      'shadow:null->1',
      'champion:null->1',
      'shadow:1->null',
      'shadow:null->2',
      'previous-champion:null->1',
      'champion:1->2',
      'shadow:2->null',
    ]);
    const card = await readFile(`${h.modelCards}/tip-policy.md`, 'utf8');
    expect(card).toContain('better at night');

    const back = await rollbackChampion(ctx(), 'tip-policy');
    expect(back).toMatchObject({ from: 2, to: 1, aliases: { champion: 1 } });
    // A model the store does not have: named, with where to look.
    await expect(rollbackChampion(ctx(), 'tip-polcy')).rejects.toMatchObject({ code: 'not_found', hint: expect.stringContaining('`oo-ml models` lists the registered models') });
    await expect(promoteVersion(ctx(), { model: 'tip-polcy', version: 1, to: 'shadow' })).rejects.toMatchObject({ code: 'not_found', hint: expect.stringContaining('oo-ml train') });
    // A second rollback would put the version just rolled back from in again, unchecked: refused.
    await expect(rollbackChampion(ctx(), 'tip-policy')).rejects.toMatchObject({ code: 'conflict', message: 'model tip-policy has no previous champion to roll back to' });
    expect((await store.getRegisteredModel('tip-policy')).aliases).toEqual({ champion: 1 });
  });

  it("refuses to roll back to a @previous-champion an earlier oo-ml's rollback left (it swapped the aliases), but not after promoting that version again", async () => {
    const { store, ctx } = await setup();
    for (const v of [1, 2]) {
      await promoteVersion(ctx(), { model: 'tip-policy', version: v, to: 'shadow' });
      await promoteVersion(ctx(), { model: 'tip-policy', version: v, to: 'champion' });
    }
    // What `oo-ml rollback` wrote before 0.2.0: champion 2 → 1 and @previous-champion 1 → 2, no figures.
    // Times from the test's clock, so that every move made after these comes later.
    const time = ctx().now().toISOString();
    await store.setAlias('tip-policy', 'champion', 1);
    await store.setAlias('tip-policy', 'previous-champion', 2);
    await appendRollout(
      store,
      'tip-policy',
      { time, alias: 'champion', from: 2, to: 1, reason: 'rollback', forced: false, figures: {} },
      { time, alias: 'previous-champion', from: 1, to: 2, reason: 'rollback', forced: false, figures: {} },
    );
    await expect(rollbackChampion(ctx(), 'tip-policy')).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining(`@previous-champion v2 was left by a rollback of an earlier oo-ml (${time})`),
      hint: 'to make v2 champion, promote it through the gate (oo-ml promote tip-policy 2 --to champion)',
    });
    expect((await store.getRegisteredModel('tip-policy')).aliases).toEqual({ champion: 1, 'previous-champion': 2 });
    // The same moves made by a forced promotion (v1 forced back over v2) are no rollback: rolling back returns to v2.
    await store.setAlias('tip-policy', 'champion', 2);
    await store.setAlias('tip-policy', 'previous-champion', 1);
    const forcedAt = ctx().now().toISOString();
    await appendRollout(
      store,
      'tip-policy',
      { time: forcedAt, alias: 'previous-champion', from: 2, to: 1, reason: 'v1 back', forced: true, figures: {} },
      { time: forcedAt, alias: 'champion', from: 1, to: 2, reason: 'v1 back', forced: true, figures: {} },
    );
    await store.setAlias('tip-policy', 'champion', 1);
    await store.setAlias('tip-policy', 'previous-champion', 2);
    const forcedBackAt = ctx().now().toISOString();
    await appendRollout(
      store,
      'tip-policy',
      { time: forcedBackAt, alias: 'previous-champion', from: 1, to: 2, reason: 'v1 back', forced: true, figures: {} },
      { time: forcedBackAt, alias: 'champion', from: 2, to: 1, reason: 'v1 back', forced: true, figures: {} },
    );
    expect(await rollbackChampion(ctx(), 'tip-policy')).toMatchObject({ from: 1, to: 2, aliases: { champion: 2 } });
    // Promoted again through the gate, v1 is champion with v2 its previous: that promotion can be rolled back.
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'shadow' });
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'champion' });
    expect(await rollbackChampion(ctx(), 'tip-policy')).toMatchObject({ from: 1, to: 2, aliases: { champion: 2 } });
  });

  it('rolls back to a previous champion that is shadow now, ending its shadow: never champion and shadow at once', async () => {
    const { store, ctx } = await setup();
    for (const v of [1, 2]) {
      await promoteVersion(ctx(), { model: 'tip-policy', version: v, to: 'shadow' });
      await promoteVersion(ctx(), { model: 'tip-policy', version: v, to: 'champion' });
    }
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'shadow', force: true, reason: 'watch it again' });
    expect((await store.getRegisteredModel('tip-policy')).aliases).toEqual({ champion: 2, 'previous-champion': 1, shadow: 1 });
    const back = await rollbackChampion(ctx(), 'tip-policy');
    expect(back.aliases).toEqual({ champion: 1 });
    expect((await readRollout(store, 'tip-policy')).slice(-3).map((e) => `${e.alias}:${e.from}->${e.to} (${e.reason})`)).toEqual([
      'champion:2->1 (rollback)',
      'previous-champion:1->null (rollback)',
      'shadow:1->null (rolled back to champion)',
    ]);
  });

  it('refuses a failing gate without changing anything, and records a forced move', async () => {
    const { store, ctx, asked } = await setup();
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'shadow' });
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'champion' });
    await promoteVersion(ctx(), { model: 'tip-policy', version: 2, to: 'shadow' });
    const before = await store.getRegisteredModel('tip-policy');
    const losing = { ...good, simDiff: { value: -0.01, ci95: [-0.02, 0.0] as [number, number], seeds: 6 } };
    await expect(promoteVersion(ctx(losing), { model: 'tip-policy', version: 2, to: 'champion' })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('beats champion v1 in simulation'),
    });
    expect(await store.getRegisteredModel('tip-policy')).toEqual(before);
    await expect(promoteVersion(ctx(losing), { model: 'tip-policy', version: 2, to: 'champion', force: true })).rejects.toMatchObject({ code: 'invalid_usage' });
    const forced = await promoteVersion(ctx(losing), { model: 'tip-policy', version: 2, to: 'champion', force: true, reason: 'incident fix' });
    expect(forced.forced).toBe(true);
    expect(asked.at(-1)).toBe('champion:1:true:forced');
    // A version that was never shadow, forced: the evidence is asked for in full, and what the override overrode is on record.
    const skipped = await promoteVersion(ctx(losing), { model: 'tip-policy', version: 3, to: 'champion', force: true, reason: 'hotfix' });
    expect(asked.at(-1)).toBe('champion:2:false:forced');
    expect(skipped.decision.checks.map((c) => c.id)).toEqual(['was-shadow', 'shadow-exposure', 'beats-baseline', 'ope-not-worse', 'no-flagged-segment']);
    expect(JSON.parse((await store.getModelVersion('tip-policy', 3)).tags['oo-ml.gate.champion.figures']!)).toMatchObject({ sim_diff: -0.01 });
    expect((await store.getModelVersion('tip-policy', 2)).tags['oo-ml.gate.champion.forced']).toBe('true');
  });

  it('holds a first champion to beating uniform random, and asks the evidence what it decides', async () => {
    const { store, ctx, asked } = await setup();
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'shadow' });
    const chance = { ...good, simDiff: { value: 0.001, ci95: [-0.004, 0.006] as [number, number], seeds: 5 } };
    await expect(promoteVersion(ctx(chance), { model: 'tip-policy', version: 1, to: 'champion' })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('beats uniform random in simulation: reward difference 0.0010 [-0.0040, 0.0060]'),
    });
    expect((await store.getRegisteredModel('tip-policy')).aliases).toEqual({ shadow: 1 });
    expect(asked).toEqual(['shadow:null:false', 'champion:null:true']);
  });

  it('refuses a champion whose training run flagged a segment, until forced with a reason (recorded)', async () => {
    const { store, ctx } = await setup();
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'shadow' });
    const flagged = { ...good, flaggedSegments: ['night-owls'] };
    await expect(promoteVersion(ctx(flagged), { model: 'tip-policy', version: 1, to: 'champion' })).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('no segment flagged for review: the training run flagged night-owls'),
    });
    const forced = await promoteVersion(ctx(flagged), { model: 'tip-policy', version: 1, to: 'champion', force: true, reason: 'night-owls reviewed: small segment, acceptable' });
    expect(forced).toMatchObject({ forced: true, aliases: { champion: 1 } });
    const history = await readRollout(store, 'tip-policy');
    expect(history.at(-2)).toMatchObject({ alias: 'champion', to: 1, forced: true, reason: 'night-owls reviewed: small segment, acceptable' });
  });

  it('names the bad input: unknown version, already champion, too few seeds, nothing to roll back', async () => {
    const { ctx } = await setup(2);
    await expect(promoteVersion(ctx(), { model: 'tip-policy', version: 9, to: 'shadow' })).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('no version 9') });
    await expect(promoteVersion(ctx(), { model: 'nope', version: 1, to: 'shadow' })).rejects.toMatchObject({ code: 'not_found' });
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'shadow' });
    await promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'champion' });
    await expect(promoteVersion(ctx(), { model: 'tip-policy', version: 1, to: 'champion' })).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('already champion') });
    await promoteVersion(ctx(), { model: 'tip-policy', version: 2, to: 'shadow' });
    await expect(
      promoteVersion(ctx({ ...good, simDiff: { value: 0.1, ci95: [0.05, 0.15], seeds: 2 } }), { model: 'tip-policy', version: 2, to: 'champion' }),
    ).rejects.toMatchObject({ message: expect.stringContaining('cannot decide') });
    await expect(rollbackChampion(ctx(), 'tip-policy')).rejects.toMatchObject({ message: expect.stringContaining('no previous champion') });
  });
});
