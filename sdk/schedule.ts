// The learning rate at each step of a run: a schedule over the run's steps, after an optional
// linear warm-up.

export type ScheduleName = "constant" | "cosine";
export const SCHEDULES: readonly ScheduleName[] = ["constant", "cosine"];

/**
 * The rate of step `step` (0-based) of a schedule `steps` long whose first `warmupSteps` steps
 * ramp linearly up to `base` (step i at base·(i+1)/warmupSteps): the large, noisy gradients of
 * fresh weights, batch norm's above all, then meet small steps. After the warm-up, "constant"
 * keeps `base` and "cosine" decays it to 0 along half a cosine over the remaining steps (with the
 * warm-up, the one-cycle shape: up, then down).
 */
export function learningRateAt(
  base: number,
  schedule: ScheduleName,
  step: number,
  steps: number,
  warmupSteps = 0,
): number {
  if (step < warmupSteps) return (base * (step + 1)) / warmupSteps;
  if (schedule === "constant") return base;
  const span = steps - warmupSteps;
  return span > 0 ? base * 0.5 * (1 + Math.cos((Math.PI * (step - warmupSteps)) / span)) : base;
}
