import type { ModelConfig } from '../model/config.js';
import { TrainModel } from './model.js';

/** A share of an optimizer step (or of an evaluation) given to one thread. */
export interface GradJob {
  /** k micro-batches of B*T tokens each, concatenated. */
  inputs: Int32Array;
  targets: Int32Array;
  /** 1 / (target tokens of the whole step): makes the summed gradients those of the step's mean loss. */
  lossScale: number;
  l1: number;
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
}

/** Runs jobs on one TrainModel; gradients go to `grads`, which each job zeroes first. */
export class GradComputer {
  private readonly model: TrainModel;
  constructor(config: ModelConfig, params: Float32Array, private readonly grads: Float32Array, B: number, T: number) {
    this.model = new TrainModel(config, params, grads, B, T);
  }

  run(job: GradJob): GradResult {
    const m = this.model;
    const n = m.B * m.T;
    if (job.backward) this.grads.fill(0);
    m.resetStats();
    let lossSum = 0, count = 0;
    for (let o = 0; o < job.inputs.length; o += n) {
      const r = m.forward(job.inputs.subarray(o, o + n), job.targets.subarray(o, o + n));
      lossSum += r.lossSum;
      count += r.count;
      if (job.backward) m.backward(job.lossScale, job.l1);
    }
    return { lossSum, count, zeros: [...m.ffnZeros], seen: m.ffnSeen };
  }
}
