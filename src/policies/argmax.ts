/**
 * Exact argmax with ties. Policies break ties uniformly at random and report propensity 1/|ties|,
 * so ties are exact floating-point equality: a tolerance would make the tie set depend on the
 * order scores were compared in, and `choose` and `probabilities` must agree bit for bit.
 */

/**
 * Writes the indices i < k with values[i] equal to the maximum into `ties` (ascending) and
 * returns how many there are (0 only when every value is NaN).
 */
export function collectArgmax(values: Float64Array, k: number, ties: Int32Array): number {
  let best = -Infinity;
  let count = 0;
  for (let i = 0; i < k; i++) {
    const v = values[i]!;
    if (v > best) {
      best = v;
      ties[0] = i;
      count = 1;
    } else if (v === best) {
      ties[count++] = i;
    }
  }
  return count;
}

/** True when `arm` is among ties[0..count). */
export function isTied(ties: Int32Array, count: number, arm: number): boolean {
  for (let i = 0; i < count; i++) if (ties[i] === arm) return true;
  return false;
}
