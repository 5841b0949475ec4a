import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { RelufyError } from '../errors.js';
import { register as registerBench } from './commands/bench.js';
import { register as registerConvert } from './commands/convert.js';
import { register as registerEval } from './commands/eval.js';
import { register as registerGenerate } from './commands/generate.js';
import { register as registerInfo } from './commands/info.js';
import { register as registerPerplexity } from './commands/perplexity.js';
import { register as registerProfile } from './commands/profile.js';
import { register as registerTokenize } from './commands/tokenize.js';
import { register as registerTrain } from './commands/train.js';
import { register as registerTrainPredictor } from './commands/train-predictor.js';

/** Builds the `relufy` program (exported for tests). */
export function buildProgram(): Command {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command();
  program
    .name('relufy')
    .description('TypeScript toolkit and CPU engine for activation-sparse (ReLU-family) LLMs')
    .version(pkg.version)
    // commander's own errors (unknown option, missing argument) as one line like every other user error
    .configureOutput({ outputError: (str, write) => write(`relufy: ${str.replace(/^error: /, '').trim()} (run with --help for usage)\n`) })
    .exitOverride();
  registerGenerate(program);
  registerInfo(program);
  registerTokenize(program);
  registerConvert(program);
  registerTrain(program);
  registerEval(program);
  registerPerplexity(program);
  registerBench(program);
  registerProfile(program);
  registerTrainPredictor(program);
  return program;
}

/** Runs the CLI; user errors print one line to stderr and exit 1, bugs print their stack. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : e.exitCode || 1;
    if (e instanceof RelufyError) {
      process.stderr.write(`relufy: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
