import { describe, expect, it } from 'vitest';
import { EVENT_VALIDATORS, type OoEvent } from '../../src/events/schemas.js';
import { ARM_COUNT } from '../../src/features/arms.js';
import { dayOfWeekUtc, generateUser, hourOfDayUtc } from '../../src/sim/event-generator.js';
import { PERSONAS, goodReactionProbability } from '../../src/sim/personas.js';

const opts = { users: 50, days: 14, seed: 11, startMs: Date.parse('2026-01-05T00:00:00Z') };

describe('synthetic event generator', () => {
  it('emits events that satisfy the event schemas', () => {
    for (let i = 0; i < 10; i++) {
      for (const e of generateUser(opts, i).events) {
        expect(EVENT_VALIDATORS[e.type].issues(e)).toEqual([]);
      }
    }
  });

  it('is deterministic per seed and per user, independent of generation order', () => {
    const a = generateUser(opts, 7);
    const b = generateUser(opts, 7);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(generateUser({ ...opts, seed: 12 }, 7))).not.toBe(JSON.stringify(a));
    expect(JSON.stringify(generateUser({ ...opts, users: 5000 }, 7))).toBe(JSON.stringify(a));
  });

  it('logs uniform propensities, serve contexts consistent with the serve time, one reaction per serve', () => {
    const events: OoEvent[] = [];
    for (let i = 0; i < 20; i++) events.push(...generateUser(opts, i).events);
    const serves = events.filter((e) => e.type === 'tip.served');
    const reactions = events.filter((e) => e.type === 'tip.reaction');
    expect(serves.length).toBeGreaterThan(100);
    expect(reactions.length).toBe(serves.length);
    for (const s of serves) {
      expect(s.propensity).toBe(1 / ARM_COUNT);
      const t = Date.parse(s.ts);
      expect(s.context.hour_of_day).toBe(hourOfDayUtc(t));
      expect(s.context.day_of_week).toBe(dayOfWeekUtc(t));
    }
    const servedAt = new Map(serves.map((s) => [s.serve_id, Date.parse(s.ts)]));
    for (const r of reactions) expect(Date.parse(r.ts)).toBeGreaterThan(servedAt.get(r.serve_id)!);
  });

  it('makes the reaction rate depend on the arm, the persona and the context', () => {
    const ctx = { hourOfDay: 8, dayOfWeek: 1, openTasks: 5, overdueTasks: 0 };
    const planner = PERSONAS.find((p) => p.name === 'morning_planner')!;
    const owl = PERSONAS.find((p) => p.name === 'night_owl')!;
    const best = (p: typeof planner, c: typeof ctx) => {
      let arm = 0;
      for (let a = 1; a < ARM_COUNT; a++) if (goodReactionProbability(p, a, c) > goodReactionProbability(p, arm, c)) arm = a;
      return arm;
    };
    expect(best(planner, ctx)).not.toBe(best(owl, { ...ctx, hourOfDay: 22 }));
    expect(goodReactionProbability(planner, 1, ctx)).not.toBe(goodReactionProbability(planner, 1, { ...ctx, hourOfDay: 21 }));
  });

  it('knows Monday is 0 and Sunday is 6', () => {
    expect(dayOfWeekUtc(Date.parse('2026-01-05T12:00:00Z'))).toBe(0);
    expect(dayOfWeekUtc(Date.parse('2026-01-11T23:59:59Z'))).toBe(6);
    expect(hourOfDayUtc(Date.parse('2026-01-11T23:59:59Z'))).toBe(23);
  });
});
