import type { FfnActivation, ModelConfig } from '../model/config.js';
import type { LoadedModel } from '../model/types.js';

/**
 * The same model with its FFN activation changed (dense SwiGLU -> dReLU / ReGLU, the starting point
 * of TurboSparse / ProSparse continued training). Weights are shared, not copied; the config's
 * HF fields follow so other tools see what the model is:
 *   drelu:  architecture / model_type 'bamboo', hidden_act 'relu'   (TurboSparse / Bamboo)
 *   reglu:  architecture of the source ('llama' / 'mistral'; 'llama' from bamboo), hidden_act 'relu'
 *   swiglu: as reglu with hidden_act 'silu'
 */
export function convertActivation(model: LoadedModel, activation: FfnActivation): LoadedModel {
  return { ...model, config: convertConfig(model.config, activation) };
}

export function convertConfig(c: ModelConfig, activation: FfnActivation): ModelConfig {
  const base = c.architecture === 'bamboo' ? 'llama' : c.architecture;
  return {
    ...c,
    ffn_activation: activation,
    architecture: activation === 'drelu' ? 'bamboo' : base,
    hidden_act: activation === 'swiglu' ? 'silu' : 'relu',
  };
}
