/**
 * The container of SimView: owns the progress state, re-renders on every finished
 * replication, and unmounts when the simulation ends.
 */
import { render } from 'ink';
import type { PolicyRun } from '../../sim/runner.js';
import { SimView, type PolicyProgress } from './SimView.js';

/** A live view to feed with finished replications. */
export interface LiveSimView {
  replicationDone(runs: readonly PolicyRun[]): void;
  stop(): void;
}

/** Mounts the view on stderr (stdout stays for the result). */
export function startSimView(title: string, policies: readonly string[], reps: number): LiveSimView {
  const progress: PolicyProgress[] = policies.map((name) => ({ name, done: 0, total: reps, rewards: [] }));
  const view = () => <SimView title={title} policies={progress.map((p) => ({ ...p, rewards: [...p.rewards] }))} columns={process.stderr.columns ?? 80} />;
  const app = render(view(), { stdout: process.stderr, patchConsole: false });
  return {
    replicationDone(runs) {
      runs.forEach((run, i) => {
        const p = progress[i]!;
        p.done++;
        (p.rewards as number[]).push(run.decisions === 0 ? 0 : run.rewardSum / run.decisions);
      });
      app.rerender(view());
    },
    stop() {
      app.rerender(view());
      app.unmount();
    },
  };
}
