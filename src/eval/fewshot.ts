/**
 * Few-shot example selection, per task and in eval order (eval-spec §2.3): the v0.4 `default`
 * sampler (`random.Random(1234)` per task, k+1 drawn when `fewshot_split == test_split`, the eval doc
 * removed, first k kept), `first_n` (MMLU), and the old harness (`Random(42)` shared with the eval-doc
 * shuffle, exactly k drawn). Harness `lm_eval/api/samplers.py`, old `lm_eval/base.py` `fewshot_context`.
 */
import { RelufyError } from '../errors.js';
import { canonicalJson } from './cache.js';
import { PythonRandom } from './python-random.js';
import type { HarnessProfile } from './versions.js';

export interface SamplerSpec {
  sampler: 'random' | 'first_n';
  /** The v0.4 k+1 quirk applies to this task. */
  drawExtra: boolean;
}

export class FewshotSampler<D> {
  /**
   * @param rng the task's RNG (v0.4: a fresh `Random(1234)`; old harness: the `Random(42)` that shuffled the eval docs).
   * @param pool the few-shot split in dataset order.
   * @param sameSplit old harness only: the pool is the eval split (no training docs), so k+1 are drawn and the eval doc removed.
   */
  constructor(
    private readonly rng: PythonRandom,
    private readonly pool: readonly D[],
    private readonly spec: SamplerSpec,
    private readonly profile: HarnessProfile,
    private readonly sameSplit = false,
  ) {}

  /**
   * The k examples for `doc`, in prompt order. Advances the RNG like the harness (the unused
   * (k+1)-th draw included).
   * @throws RelufyError when the pool has fewer than the draws needed.
   */
  sample(doc: D, k: number): D[] {
    if (k === 0) return [];
    if (this.spec.sampler === 'first_n') {
      if (k > this.pool.length) throw new RelufyError(`few-shot: ${k} examples requested but the pool has ${this.pool.length}`);
      return this.pool.slice(0, k);
    }
    const extra = this.profile.era === 'old' ? this.sameSplit : this.profile.extraDrawQuirk && this.spec.drawExtra;
    const n = extra ? k + 1 : k;
    if (n > this.pool.length) throw new RelufyError(`few-shot: ${n} draws needed but the pool has ${this.pool.length} examples`);
    const drawn = this.rng.sample(this.pool, n);
    if (!extra) return drawn;
    // Python `x != doc` on dicts is structural equality.
    const key = canonicalJson(doc);
    return drawn.filter((x) => x !== doc && canonicalJson(x) !== key).slice(0, k);
  }
}

/** The RNG a task starts with: v0.4 `Random(fewshot_seed)`; old harness `Random(42)`. */
export function taskRng(profile: HarnessProfile): PythonRandom {
  return new PythonRandom(profile.fewshotSeed);
}
