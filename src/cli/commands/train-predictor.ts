/**
 * `relufy train-predictor -m MODEL -f CORPUS -o OUT.pwri.gguf`: trains PowerInfer activation
 * predictors (one low-rank MLP per layer) on a corpus and writes a PowerInfer GGUF (`PWRI`).
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { UsageError } from '../../errors.js';
import { loadModel } from '../../model/index.js';
import { DEFAULT_BUDGET, formatPredictorReport, trainPredictors } from '../../sparse/predictor-train.js';
import { savePowerInferGguf } from '../../sparse/pwri.js';
import { tokenizeFile } from '../../train/data.js';
import { floatOption, intOption } from '../options.js';

interface TrainPredictorFlags {
  model?: string;
  file?: string;
  output?: string;
  rank?: number;
  budget?: number | true;
  recall: number;
  ctx: number;
  maxTokens?: number;
  epochs: number;
  lr: number;
  batch: number;
  seed: number;
  threads: number;
  workDir?: string;
  resume?: boolean;
  tokenizer?: string;
  progress: boolean;
}

/** Registers `relufy train-predictor`. */
export function register(program: Command): void {
  program
    .command('train-predictor')
    .description('train PowerInfer activation predictors (per layer: fc1 hidden -> R, ReLU, fc2 R -> intermediate) on a corpus and write a PowerInfer GGUF (PWRI) that runs with --sparse predictor')
    .option('-m, --model <path>', 'ReLU-family model (ReGLU or dReLU): GGUF file, llama2.c .bin, or Hugging Face folder')
    .option('-f, --file <path>', 'corpus text file; the last 10% of its forward windows is held out (half sets the thresholds, half is reported)')
    .option('-o, --output <file>', 'PowerInfer GGUF to write (e.g. model.pwri.gguf)')
    .option('--rank <r>', 'predictor rank R for every layer (default hidden_size/4 within 64..1024, at most hidden_size)', intOption('--rank', 1))
    .option('--budget [share]', `choose each layer's rank so fc1+fc2 bytes <= share x the sparse FFN's bytes (active share x gate+up+down bytes; default ${DEFAULT_BUDGET})`, floatOption('--budget', 1e-6))
    .option('--recall <r>', 'target recall per layer: share of truly active neurons the threshold must keep', floatOption('--recall', 0.5, 1), 0.99)
    .option('-c, --ctx <n>', 'tokens per forward window (fresh KV cache each)', intOption('--ctx', 1), 512)
    .option('--max-tokens <n>', 'use at most this many corpus tokens', intOption('--max-tokens', 1))
    .option('--epochs <n>', 'passes over the training tokens', intOption('--epochs', 1), 12)
    .option('--lr <x>', 'peak AdamW learning rate (cosine decay to a tenth)', floatOption('--lr', 0), 3e-3)
    .option('--batch <n>', 'tokens per minibatch', intOption('--batch', 1), 64)
    .option('--seed <n>', 'seed of initialization and shuffling', intOption('--seed', 0), 1)
    .option('-t, --threads <n>', 'worker threads (layers are trained in parallel)', intOption('-t', 1, 64), Math.min(2, availableParallelism()))
    .option('--work-dir <dir>', 'collected activations and finished layers, for --resume (default OUTPUT.work)')
    .option('--resume', 'continue the run in --work-dir: skip collected parts and trained layers')
    .option('--tokenizer <path>', 'tokenizer for models that carry none (llama2.c .bin)')
    .option('--no-progress', 'no progress bars')
    .action(async (flags: TrainPredictorFlags) => {
      if (!flags.model) throw new UsageError('-m', 'no model given (relufy train-predictor -m MODEL -f CORPUS -o OUT.pwri.gguf)');
      if (!flags.file) throw new UsageError('-f', 'no corpus given (relufy train-predictor -m MODEL -f CORPUS -o OUT.pwri.gguf)');
      if (!flags.output) throw new UsageError('-o', 'no output file given (relufy train-predictor -m MODEL -f CORPUS -o OUT.pwri.gguf)');
      if (flags.rank !== undefined && flags.budget !== undefined) throw new UsageError('--rank', 'give --rank or --budget, not both');
      const model = loadModel(flags.model, { tokenizer: flags.tokenizer });
      if (model.config.ffn_activation === 'swiglu')
        throw new UsageError('-m', 'predictors need a ReLU-family FFN (reglu or drelu): with SwiGLU no neuron is ever exactly inactive');
      if (!model.tokenizer) throw new UsageError('--tokenizer', `${flags.model} carries no tokenizer`);
      const tokens = tokenizeFile(flags.file, model.tokenizer);
      const tty = flags.progress && process.stderr.isTTY;
      const multi = tty ? new cliProgress.MultiBar({ format: '{phase} {bar} {percentage}% | {value}/{total} | ETA {eta_formatted}', etaBuffer: 50, clearOnComplete: false }, cliProgress.Presets.shades_classic) : null;
      let collectBar: cliProgress.SingleBar | null = null;
      let trainBar: cliProgress.SingleBar | null = null;
      let lastLog = 0;
      const log = (msg: string): void => {
        if (multi) multi.log(msg + '\n');
        else process.stderr.write(msg + '\n');
      };
      const result = await trainPredictors({
        model, corpus: flags.file, tokens, workDir: flags.workDir ?? `${flags.output}.work`, resume: flags.resume,
        ctx: flags.ctx, maxTokens: flags.maxTokens,
        ...(flags.rank !== undefined ? { rank: flags.rank } : {}),
        ...(flags.budget !== undefined ? { budget: flags.budget === true ? DEFAULT_BUDGET : flags.budget } : {}),
        recall: flags.recall, epochs: flags.epochs, lr: flags.lr, batch: flags.batch, seed: flags.seed, threads: flags.threads,
        onCollect: (done, total) => {
          if (multi) {
            collectBar ??= multi.create(total, 0, { phase: 'collecting tokens' });
            collectBar.update(done);
          } else if (flags.progress && (done === total || Date.now() - lastLog > 5000)) {
            lastLog = Date.now();
            process.stderr.write(`collected ${done}/${total} tokens\n`);
          }
        },
        onTrain: (done, total) => {
          if (multi) {
            trainBar ??= multi.create(total, 0, { phase: 'training steps   ' });
            trainBar.update(done);
          } else if (flags.progress && (done === total || Date.now() - lastLog > 5000)) {
            lastLog = Date.now();
            process.stderr.write(`training step ${done}/${total}\n`);
          }
        },
        onNote: log,
      });
      multi?.stop();
      process.stdout.write(formatPredictorReport(result, flags.recall));
      savePowerInferGguf(flags.output, model, result.predictors, { threshold: result.threshold, name: `${model.metadata['general.name'] ?? 'relufy model'} + predictors` });
      process.stdout.write(`wrote ${flags.output} (PWRI; per-layer thresholds folded into fc2, powerinfer.sparse_threshold = ${result.threshold})\n`);
    });
}
