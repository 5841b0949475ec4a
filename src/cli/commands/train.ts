import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { train } from '../../train/index.js';
import { intOption } from '../options.js';

interface TrainFlags {
  recipe: string;
  model: string;
  output: string;
  resume?: boolean | string;
  threads: number;
  stopAfter?: number;
  tokenizer?: string;
  progress: boolean;
}

/** `relufy train --recipe FILE -m INIT_MODEL -o OUT_DIR`: continued pre-training by a recipe. */
export function register(program: Command): void {
  program
    .command('train')
    .description('continue pre-training a model by a JSON recipe (e.g. dense SwiGLU -> dReLU), with checkpoints and a JSONL log')
    .requiredOption('--recipe <file>', 'recipe JSON: phases with data mix, tokens, LR schedule, weight decay, batch size, L1, distillation (see recipes/ and the README)')
    .requiredOption('-m, --model <path>', 'initial model: GGUF, llama2.c .bin or Hugging Face folder')
    .requiredOption('-o, --output <dir>', 'output folder: log.jsonl, checkpoints/, model.gguf, curves.svg, summary.json')
    .option('--resume [checkpoint]', 'continue from the newest checkpoint in OUT_DIR/checkpoints (or from the given file)')
    .option('-t, --threads <n>', 'worker threads for data-parallel gradients', intOption('-t', 1, 64), Math.min(2, availableParallelism()))
    .option('--stop-after <step>', 'stop after this optimizer step (resume later with --resume)', intOption('--stop-after', 1))
    .option('--tokenizer <path>', 'tokenizer for models that carry none (llama2.c .bin)')
    .option('--no-progress', 'no progress bar (notes and the summary still print)')
    .action(async (flags: TrainFlags) => {
      const bar = flags.progress && process.stderr.isTTY
        ? new cliProgress.SingleBar({
          format: '{bar} {percentage}% | step {value}/{total} | {phase} | loss {loss} | {tps} tok/s | ETA {eta_formatted}',
          etaBuffer: 20,
        }, cliProgress.Presets.shades_classic)
        : null;
      let started = false;
      const summary = await train({
        recipe: flags.recipe,
        model: flags.model,
        outDir: flags.output,
        ...(flags.resume !== undefined ? { resume: flags.resume } : {}),
        threads: flags.threads,
        ...(flags.stopAfter !== undefined ? { stopAfter: flags.stopAfter } : {}),
        ...(flags.tokenizer !== undefined ? { tokenizer: flags.tokenizer } : {}),
        onProgress: (p) => {
          const payload = { phase: p.phase, loss: p.loss.toFixed(4), tps: Math.round(p.tokensPerSecond) };
          if (bar) {
            if (!started) {
              bar.start(p.total, p.step - 1, payload);
              started = true;
            }
            bar.update(p.step, payload);
          } else if (flags.progress && (p.step % 10 === 0 || p.step === p.total)) {
            process.stderr.write(`step ${p.step}/${p.total} ${p.phase} loss ${payload.loss} ${payload.tps} tok/s\n`);
          }
        },
        onNote: (msg) => {
          if (bar && started) bar.stop(), (started = false);
          process.stderr.write(msg + '\n');
        },
      });
      if (bar && started) bar.stop();
      const fmt = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(4));
      process.stdout.write(
        `${summary.finished ? 'finished' : 'stopped'} at step ${summary.steps} (${summary.tokens} tokens, ${summary.elapsed.toFixed(0)} s, ` +
        `${Math.round(summary.tokensPerSecond)} tok/s on ${summary.threads} threads); val loss ${fmt(summary.valBefore?.loss)} -> ${fmt(summary.valAfter?.loss)}` +
        (summary.modelPath ? `; model ${summary.modelPath}, curves ${summary.plotPath}` : '') + '\n',
      );
    });
}
