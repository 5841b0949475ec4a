import { UsageError } from '../errors.js';
import { writeGguf } from '../formats/gguf/index.js';
import { POWERINFER } from '../formats/gguf/keys.js';
import { GGUFValueType } from '../formats/gguf/types.js';
import { GGMLType, quantize, quantTraits, typeName } from '../formats/quant/index.js';
import type { Tensor } from '../formats/quant/types.js';
import { dequantizeRows } from '../kernels/ref/dequant.js';
import { convertTensor, fileTypeOf, ggufMetadata } from '../model/save.js';
import type { LoadedModel } from '../model/types.js';
import { fc1Name, fc2Name, predictorShapeProblem, predictorThresholdOf, type LayerPredictor } from './predictor.js';

export interface PowerInferSaveOptions {
  /** `powerinfer.sparse_threshold` to store (default: the model's own, else 0). Any finite number. */
  threshold?: number;
  /** Convert 2-D weights, the predictors included, to this type (as `saveGguf` does). */
  weightType?: GGMLType;
  /** `general.name` (default 'relufy model'). */
  name?: string;
}

/**
 * Writes a model and its activation predictors as a PowerInfer GGUF (shared/docs/powerinfer-and-gguf.md
 * 1.4), atomically:
 * - magic `PWRI` (GGUF v3 otherwise); `general.architecture` `bamboo` for dReLU models, `llama` for
 *   ReGLU (PowerInfer reads `llama` PWRI files as ReLU models), plus relufy's `{arch}.ffn_activation`
 *   and the rest of `ggufMetadata` (`general.file_type` when `weightType` is given);
 * - `powerinfer.sparse_threshold` (f32);
 * - per layer `blk.N.ffn_down_t.weight` (F, C) = the transpose of `ffn_down` (C, F), in place of
 *   `ffn_down` (PowerInfer convert-hf-to-powerinfer-gguf.py stores `down_proj.T`), followed by
 *   `blk.N.fc1.weight` (R, C) and `blk.N.fc2.weight` (F, R) (predictors already in the model are replaced).
 * `ffn_down_t` is written in `weightType`, else in the source type: exact for F32 / F16 / BF16; block
 * types (Q8_0, Q4_0, ...) are quantized again over the transposed rows (F32 when C is not a multiple
 * of the block size).
 * @throws UsageError for a SwiGLU model (PowerInfer files hold ReLU-family models), a predictor count
 *   or shape that does not fit the model, a non-finite threshold or a type relufy cannot encode.
 */
export function savePowerInferGguf(path: string, model: LoadedModel, predictors: LayerPredictor[], options: PowerInferSaveOptions = {}): void {
  const c = model.config;
  const C = c.hidden_size;
  const F = c.intermediate_size;
  if (c.ffn_activation === 'swiglu')
    throw new UsageError('savePowerInferGguf', 'PowerInfer files hold ReLU-family models (llama = ReGLU, bamboo = dReLU); this model is swiglu');
  const wt = options.weightType;
  if (wt !== undefined && !quantTraits(wt)) throw new UsageError('--quant', `cannot write ${typeName(wt)} weights`);
  if (predictors.length !== c.num_hidden_layers)
    throw new UsageError('predictors', `${predictors.length} predictors given for a ${c.num_hidden_layers}-layer model`);
  predictors.forEach((p, l) => {
    const problem = predictorShapeProblem(l, p.fc1.shape, p.fc2.shape, C, F);
    if (problem) throw new UsageError('predictors', problem);
  });
  const threshold = options.threshold ?? predictorThresholdOf(model);
  if (!Number.isFinite(threshold)) throw new UsageError('threshold', `must be a finite number (got ${threshold})`);

  const conv = (t: Tensor): Tensor => (wt === undefined ? t : convertTensor(t, wt));
  const tensors: Tensor[] = [];
  const pushPredictor = (l: number): void => {
    tensors.push(conv({ ...predictors[l]!.fc1, name: fc1Name(l) }));
    tensors.push(conv({ ...predictors[l]!.fc2, name: fc2Name(l) }));
  };
  for (const t of model.tensors.values()) {
    const m = /^blk\.(\d+)\.(ffn_down|ffn_down_t|fc1|fc2)\.weight$/.exec(t.name);
    if (!m) {
      tensors.push(conv(t));
      continue;
    }
    const l = Number(m[1]);
    if (m[2] === 'ffn_down') {
      tensors.push(transposedDown(t, `blk.${l}.ffn_down_t.weight`, wt ?? t.type));
      pushPredictor(l);
    } else if (m[2] === 'ffn_down_t' && !model.tensors.has(`blk.${l}.ffn_down.weight`)) {
      tensors.push(conv(t));
      pushPredictor(l);
    }
    // fc1 / fc2 already in the model are replaced by `predictors`; a second ffn_down_t is dropped.
  }
  const metadata = ggufMetadata(c, model.tokenizer?.vocab ?? null, options.name ?? 'relufy model', wt === undefined ? undefined : fileTypeOf(wt));
  metadata.set(POWERINFER.SPARSE_THRESHOLD, { type: GGUFValueType.FLOAT32, value: threshold });
  writeGguf(path, { magic: 'PWRI', metadata, tensors });
}

/** down (C, F) of any type → down_t (F, C) named `name`, encoded as `type` (F32 when its rows do not fit the type's blocks). */
function transposedDown(down: Tensor, name: string, type: GGMLType): Tensor {
  const [C, F] = [down.shape[0]!, down.shape[1]!];
  const d = dequantizeRows(down, 0, C);
  const v = new Float32Array(F * C);
  for (let c = 0; c < C; c++) for (let i = 0; i < F; i++) v[i * C + c] = d[c * F + i]!;
  const traits = quantTraits(type)!;
  const to = C % traits.blockSize === 0 ? type : GGMLType.F32;
  if (to === GGMLType.F32) return { name, type: to, shape: [F, C], data: new Uint8Array(v.buffer) };
  return { ...quantize(v, [F, C], to), name };
}
