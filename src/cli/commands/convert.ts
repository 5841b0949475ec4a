import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../../errors.js';
import { writeHfFolder } from '../../formats/hf/index.js';
import { GGMLType } from '../../formats/quant/types.js';
import { loadModel, saveGguf } from '../../model/index.js';
import { convertActivation } from '../../train/index.js';
import { choiceOption } from '../options.js';

const QUANTS = ['q8_0', 'q4_0', 'f16', 'f32'] as const;
type Quant = (typeof QUANTS)[number];
const GGML_OF: Record<Quant, GGMLType> = { q8_0: GGMLType.Q8_0, q4_0: GGMLType.Q4_0, f16: GGMLType.F16, f32: GGMLType.F32 };

interface ConvertFlags {
  model: string;
  output: string;
  activation?: 'drelu' | 'reglu' | 'swiglu';
  quant?: Quant;
  to?: 'gguf' | 'safetensors' | 'both';
  tokenizer?: string;
}

/**
 * `relufy convert -m IN -o OUT`: change the FFN activation (dense -> dReLU / ReGLU), the weight type,
 * and/or the format. OUT ending in .gguf is a GGUF file; otherwise OUT is a folder that gets
 * config.json + model.safetensors (and model.gguf with --to both, the default for folders).
 */
export function register(program: Command): void {
  program
    .command('convert')
    .description('convert a model: FFN activation (--activation), weight type (--quant), format (--to)')
    .requiredOption('-m, --model <path>', 'input model: GGUF, llama2.c .bin or Hugging Face folder')
    .requiredOption('-o, --output <path>', 'output: a .gguf file, or a folder (config.json + model.safetensors [+ model.gguf])')
    .option('--activation <act>', 'FFN activation to switch to: drelu (relu on gate and up), reglu, swiglu', choiceOption('--activation', ['drelu', 'reglu', 'swiglu'] as const))
    .option('--quant <type>', 'weight type: q8_0, q4_0 (GGUF only), f16, f32', choiceOption('--quant', QUANTS))
    .option('--to <format>', 'gguf, safetensors, or both (default: gguf for a .gguf output, both for a folder)', choiceOption('--to', ['gguf', 'safetensors', 'both'] as const))
    .option('--tokenizer <path>', 'tokenizer for models that carry none (llama2.c .bin)')
    .action((flags: ConvertFlags) => {
      let model = loadModel(flags.model, flags.tokenizer ? { tokenizer: flags.tokenizer } : {});
      if (flags.activation) model = convertActivation(model, flags.activation);
      const isFile = flags.output.endsWith('.gguf');
      const to = flags.to ?? (isFile ? 'gguf' : 'both');
      if (isFile && to !== 'gguf') throw new UsageError('--to', `${to} needs a folder output, not ${flags.output}`);
      if (to !== 'gguf' && (flags.quant === 'q8_0' || flags.quant === 'q4_0'))
        throw new UsageError('--quant', `${flags.quant} is GGUF only; safetensors take f16 or f32`);
      const written: string[] = [];
      if (!isFile) mkdirSync(flags.output, { recursive: true });
      if (to === 'gguf' || to === 'both') {
        const path = isFile ? flags.output : join(flags.output, 'model.gguf');
        saveGguf(path, model, { ...(flags.quant ? { weightType: GGML_OF[flags.quant] } : {}), name: `${model.config.architecture} (${model.config.ffn_activation})` });
        written.push(path);
      }
      if (to === 'safetensors' || to === 'both') {
        writeHfFolder(flags.output, model, flags.quant ? { dtype: flags.quant === 'f16' ? 'F16' : 'F32' } : {});
        written.push(join(flags.output, 'config.json'), join(flags.output, 'model.safetensors'));
      }
      process.stdout.write(`${model.config.ffn_activation} model (${model.config.architecture}, hidden_act ${model.config.hidden_act}) written to ${written.join(', ')}\n`);
    });
}
