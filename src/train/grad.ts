import type { ModelConfig } from '../model/config.js';
import { TrainModel } from './model.js';
import { TrainKernel } from './ops/gemm.js';

/** A frozen teacher for distillation: its config and flat parameters (`paramLayout` order of its config). */
export interface Teacher {
  config: ModelConfig;
  params: Float32Array;
}

/** A share of an optimizer step (or of an evaluation) given to one thread. */
export interface GradJob {
  /** k micro-batches of B*T tokens each, concatenated. */
  inputs: Int32Array;
  targets: Int32Array;
  /** 1 / (target tokens of the whole step): makes the summed gradients those of the step's mean loss. */
  lossScale: number;
  l1: number;
  /** Weight of the KL to the teacher's distribution (0 = plain cross-entropy; needs a teacher). */
  distill: number;
  /** false = forward only (evaluation). */
  backward: boolean;
}

export interface GradResult {
  lossSum: number;
  count: number;
  /** Per layer: FFN activations equal to 0. */
  zeros: number[];
  /** FFN activations seen per layer. */
  seen: number;
  /** Summed KL(teacher || model) over counted positions (0 when the job does not distill). */
  klSum: number;
}

/** Which matrix-product path a GradComputer uses: the WebAssembly SIMD GEMM or the plain-JS reference. */
export type TrainKernelChoice = 'wasm' | 'js';

/**
 * Runs jobs on one TrainModel; gradients go to `grads`, which each job zeroes first. With a teacher,
 * jobs with distill > 0 first run the teacher forward on the same inputs for its next-token distribution.
 *
 * With the 'wasm' kernel (default; env RELUFY_TRAIN_KERNEL=js selects the JS path) the models live in
 * this thread's own WebAssembly memory: each job copies `params` in first and, with a backward,
 * copies the gradients out to `grads` at the end (the teacher's frozen parameters are copied once).
 */
export class GradComputer {
  private readonly model: TrainModel;
  private readonly teacher: TrainModel | null = null;
  /** The model's own params / grads (in wasm memory), or the caller's arrays on the JS path. */
  private readonly mParams: Float32Array;
  private readonly mGrads: Float32Array;
  constructor(
    config: ModelConfig, private readonly params: Float32Array, private readonly grads: Float32Array, B: number, T: number, teacher?: Teacher,
    kernel: TrainKernelChoice = process.env['RELUFY_TRAIN_KERNEL'] === 'js' ? 'js' : 'wasm',
  ) {
    const k = kernel === 'wasm' ? new TrainKernel() : null;
    this.mParams = k ? k.f32(params.length) : params;
    this.mGrads = k ? k.f32(grads.length) : grads;
    this.model = new TrainModel(config, this.mParams, this.mGrads, B, T, k);
    if (teacher) {
      const tp = k ? k.f32(teacher.params.length) : teacher.params;
      if (k) tp.set(teacher.params);
      this.teacher = new TrainModel(teacher.config, tp, new Float32Array(teacher.params.length), B, T, k);
    }
  }

  run(job: GradJob): GradResult {
    const m = this.model;
    const n = m.B * m.T;
    if (this.mParams !== this.params) this.mParams.set(this.params);
    if (job.backward) this.mGrads.fill(0);
    m.resetStats();
    let lossSum = 0, count = 0, klSum = 0;
    const distill = job.distill > 0;
    if (distill && !this.teacher) throw new Error('distill > 0 needs a teacher model');
    for (let o = 0; o < job.inputs.length; o += n) {
      const inputs = job.inputs.subarray(o, o + n);
      let q: Float32Array | null = null;
      if (distill) {
        this.teacher!.forward(inputs, null);
        q = this.teacher!.distribution();
      }
      const r = m.forward(inputs, job.targets.subarray(o, o + n));
      lossSum += r.lossSum;
      count += r.count;
      if (q) klSum += m.distillLoss(q);
      if (job.backward) m.backward(job.lossScale, job.l1, q ? { probs: q, alpha: job.distill } : undefined);
    }
    if (job.backward && this.mGrads !== this.grads) this.grads.set(this.mGrads);
    return { lossSum, count, zeros: [...m.ffnZeros], seen: m.ffnSeen, klSum };
  }
}
