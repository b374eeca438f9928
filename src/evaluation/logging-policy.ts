/**
 * The logging policy's own value: the on-policy mean reward of the logs, with its CLT interval.
 * Training and model cards report it as the baseline every off-policy estimate is read against.
 */
import { analyticEstimate, type Estimate } from './estimate.js';
import { checkLogs, type LoggedBandit } from './logged-bandit.js';
import { termMean, termStdErr, type TermSums } from './ope-sums.js';

/** The on-policy estimate from the reward sums of a pass (weights are all 1 by definition). */
export function loggingPolicyEstimate(reward: TermSums, n: number, unloggedArms: readonly number[], minLoggedPropensity: number): Estimate {
  return analyticEstimate(
    'logging-policy',
    termMean(reward, n),
    termStdErr(reward, n),
    {
      n,
      effectiveSampleSize: n,
      maxWeight: 1,
      meanWeight: 1,
      zeroMassShare: 0,
      support: 1,
      minLoggedPropensity,
      unloggedArms: [...unloggedArms],
      targetMassOnUnloggedArms: 0,
      supportDeficient: false,
    },
    [],
  );
}

/** The logging policy's mean reward with its 95% interval, validating the logs first. */
export function estimateLoggingPolicy(logs: LoggedBandit): Estimate {
  const { unloggedArms, minPropensity } = checkLogs(logs);
  const { n, reward } = logs;
  const shift = reward[0]!;
  let sum = 0, s2 = 0;
  for (let i = 0; i < n; i++) {
    const r = reward[i]!;
    const t = r - shift;
    sum += r;
    s2 += t * t;
  }
  return loggingPolicyEstimate({ sum, shift, s2 }, n, unloggedArms, minPropensity);
}
