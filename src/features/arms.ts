/**
 * The action space: the tip arms a policy chooses among. Declared once; personas, policies
 * (through K = ARMS.length), the training set (arm_index) and the server read it.
 */

/** One tip arm: a stable id and what the tip suggests. */
export interface ArmDef {
  id: string;
  title: string;
}

/** Every arm, in index order (the index is the policy's arm number). */
export const ARMS = [
  { id: 'split_task', title: 'Split the biggest task into three small steps.' },
  { id: 'hardest_first', title: 'Do the hardest task at your best hour.' },
  { id: 'quick_win', title: 'Start with a two-minute task to get moving.' },
  { id: 'time_block', title: 'Block 50 minutes for one task and silence notifications.' },
  { id: 'clear_overdue', title: 'Reschedule or drop one overdue task now.' },
  { id: 'plan_tomorrow', title: 'Pick tomorrow’s top three before you stop.' },
  { id: 'take_break', title: 'Take a five-minute break, then pick one task.' },
  { id: 'batch_similar', title: 'Batch similar small tasks into one sitting.' },
] as const satisfies readonly ArmDef[];

/** An arm id of the contract. */
export type ArmId = (typeof ARMS)[number]['id'];

/** Number of arms (K). */
export const ARM_COUNT = ARMS.length;

/** Arm ids in index order. */
export const ARM_IDS: readonly ArmId[] = ARMS.map((a) => a.id);

/** Index of an arm id, or -1 when the id is not an arm. */
export function armIndex(id: string): number {
  return (ARM_IDS as readonly string[]).indexOf(id);
}

/** True when `id` is one of the arms. */
export function isArmId(id: string): id is ArmId {
  return armIndex(id) >= 0;
}
