/**
 * Shadow scoring: every shadow policy decides on the served request after the answer went out
 * (fire-and-forget), from its own random stream, and its decision is recorded as a shadow
 * `tip.served` with id `<serve id>:shadow:<n>` — never served, never rewarded.
 *
 * Jobs run in batches: the first job of a batch schedules one setImmediate (which runs after
 * the current replies are written), and every job queued until then shares it. The batch is
 * synchronous up to the publishes, which settle into a counter that `drain` waits for: no
 * promise chain per batch, no closures per shadow serve.
 */
import type { TipServedEvent } from '../../events/schemas.js';
import { ARM_IDS } from '../../features/arms.js';
import { writeVector, type VectorInput } from '../../features/vectors.js';
import { decide } from '../decision.js';
import { isoFromMs } from '../iso-time.js';
import type { LivePolicy, ServingState } from '../serving-state.js';
import { InFlight, type ServingContext } from './context.js';

/** One request's shadow work, queued until after the reply. */
export interface ShadowJob {
  state: ServingState;
  served: string;
  /** The arm served to this request, and the probability it had of being served. */
  servedArm: number;
  servedPropensity: number;
  /** This replica's serve counter of the request (its serve id's sequence). */
  serveSeq: number;
  input: VectorInput;
  mask: Uint8Array | null;
  userId: string;
  serveId: string;
  context: TipServedEvent['context'];
  promptVersion: string | null;
}

/** The shadow part of the scorer. */
export interface Shadows {
  queue(job: ShadowJob): void;
  /** Resolves once every queued job ran and its events settled. */
  drain(): Promise<void>;
}

/** Shadow scoring over `ctx`. */
export function createShadows(ctx: ServingContext): Shadows {
  const { deps, stats, metrics, log } = ctx;
  let jobs: ShadowJob[] = [];
  /** Jobs queued plus shadow events not yet settled. */
  const inFlight = new InFlight();

  // Per shadow policy, built once: its publish handlers and (on its first recorded serve) its
  // stats row and counter.
  type ShadowRow = { key: string; stored(): void; failed(e: unknown): void };
  const shadowRows = new WeakMap<LivePolicy, ShadowRow>();
  const shadowRowOf = (lp: LivePolicy, name: string): ShadowRow => {
    let row = shadowRows.get(lp);
    if (row === undefined) {
      const key = stats.key({ policy: name, modelVersion: lp.modelVersion, experiment: null, variant: null, shadow: true });
      let served: { inc(): void } | null = null;
      row = {
        key,
        stored() {
          stats.serve(key);
          (served ??= metrics.shadowServed(name)).inc();
          inFlight.leave();
        },
        failed(e) {
          metrics.shadowFailures.inc({ policy: name });
          log.warn({ policy: name, reason: e instanceof Error ? e.message : String(e) }, 'shadow scoring failed');
          inFlight.leave();
        },
      };
      shadowRows.set(lp, row);
    }
    return row;
  };

  function run(): void {
    const batch = jobs;
    jobs = [];
    for (let j = 0; j < batch.length; j++) {
      scoreShadows(batch[j]!);
      inFlight.leave();
    }
  }

  function scoreShadows(job: ShadowJob): void {
    const { state, served, servedArm, servedPropensity, serveSeq, input, mask, userId, serveId, context, promptVersion } = job;
    for (let i = 0; i < state.shadows.length; i++) {
      const name = state.shadows[i]!;
      if (name === served) continue;
      const lp = state.policies.get(name)!;
      const row = shadowRowOf(lp, name);
      inFlight.enter();
      try {
        const x = writeVector(lp.layout, input, ctx.vectorBuffer(lp.layout));
        const d = decide(lp.policy, lp.live, x, mask, ctx.shadowRng, ctx.scratch);
        stats.shadowDecision(row.key, d.arm === servedArm, serveSeq, servedPropensity);
        const event: TipServedEvent = {
          type: 'tip.served',
          event_id: ctx.newEventId(),
          ts: isoFromMs(deps.now().getTime()),
          user_id: userId,
          serve_id: `${serveId}:shadow:${i}`,
          arm: ARM_IDS[d.arm]!,
          propensity: d.propensity,
          policy: name,
          model_version: lp.modelVersion,
          prompt_version: promptVersion,
          context,
          shadow: true,
        };
        ctx.publish(event).then(row.stored, row.failed);
      } catch (e) {
        row.failed(e);
      }
    }
  }

  return {
    queue(job) {
      inFlight.enter();
      jobs.push(job);
      if (jobs.length === 1) setImmediate(run);
    },
    async drain() {
      while (inFlight.busy) await inFlight.idle();
    },
  };
}
