import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { loadTokenizer } from '../../tokenizer/index.js';

/** `relufy tokenize`: like llama.cpp `llama-tokenize`, one `id -> 'piece'` line per token, or a JSON array with --json. */
export function register(program: Command): void {
  program
    .command('tokenize')
    .description('print the token ids (and pieces) of a text')
    .option('-m, --model <path>', 'GGUF, Hugging Face folder, tokenizer.model, tokenizer.json or llama2.c tokenizer.bin')
    .option('--no-bos', 'do not prepend the BOS token')
    .option('--parse-special', 'recognize special-token text such as <s> in the input')
    .option('--json', 'print only a JSON array of ids')
    .argument('<text...>', 'text to tokenize')
    .action((words: string[], flags: { model?: string; bos: boolean; json?: boolean; parseSpecial?: boolean }) => {
      if (!flags.model) throw new UsageError('-m', 'no tokenizer or model given (relufy tokenize -m FILE TEXT)');
      const tok = loadTokenizer(flags.model);
      const text = words.join(' ');
      const ids = tok.encode(text, { add_bos: flags.bos ? undefined : false, parse_special: flags.parseSpecial });
      if (flags.json) {
        process.stdout.write(JSON.stringify(ids) + '\n');
        return;
      }
      process.stdout.write(ids.map((id) => `${String(id).padStart(6)} -> '${tok.vocab.tokens[id]}'`).join('\n') + (ids.length ? '\n' : ''));
    });
}
