/**
 * Learning rate at `step` (0-based) of a phase of `total` steps: linear warm-up from 0 over
 * `warmup` steps to `peak`, then cosine decay to `min` at the last step.
 */
export function cosineLr(step: number, total: number, warmup: number, peak: number, min: number): number {
  if (step < warmup) return (peak * (step + 1)) / warmup;
  const span = Math.max(1, total - warmup - 1);
  const progress = Math.min(1, (step - warmup) / span);
  return min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * progress));
}
