import type { Command } from 'commander';
import { typeName } from '../../formats/quant/index.js';
import { loadModel } from '../../model/index.js';
import { predictorRanks, predictorThresholdOf } from '../../sparse/predictor.js';

/** `relufy info MODEL`: architecture, config, FFN activation, tensor table and tokenizer summary (reads headers only where it can). */
export function register(program: Command): void {
  program
    .command('info')
    .description('show a model\'s architecture, config, FFN activation, tensors and tokenizer')
    .argument('<model>', 'GGUF file, llama2.c .bin, or Hugging Face folder')
    .option('--tokenizer <path>', 'tokenizer for models that carry none (llama2.c .bin)')
    .option('--json', 'print JSON')
    .action((path: string, flags: { tokenizer?: string; json?: boolean }) => {
      const m = loadModel(path, { tokenizer: flags.tokenizer, headerOnly: true });
      const tok = m.tokenizer;
      const tokInfo = tok
        ? {
            type: 'SentencePiece BPE',
            vocab_size: tok.vocab_size,
            bos_token_id: tok.vocab.bos_token_id,
            eos_token_id: tok.vocab.eos_token_id,
            unk_token_id: tok.vocab.unk_token_id,
            add_bos_token: tok.vocab.add_bos_token,
            chat_template: tok.vocab.chat_template !== undefined,
          }
        : null;
      const total = m.tensorInfos.reduce((s, t) => s + t.byteLength, 0);
      const ranks = predictorRanks(m.tensorInfos, m.config.num_hidden_layers);
      const predictors = ranks ? { ranks, threshold: predictorThresholdOf(m) } : null;
      if (flags.json) {
        process.stdout.write(
          JSON.stringify(
            {
              path: m.path,
              format: m.format,
              config: m.config,
              tensors: m.tensorInfos.map((t) => ({ ...t, type: typeName(t.type) })),
              total_bytes: total,
              tokenizer: tokInfo,
              predictors,
              metadata: m.metadata,
            },
            null,
            2,
          ) + '\n',
        );
        return;
      }
      const c = m.config;
      const lines: string[] = [];
      lines.push(`model:        ${m.path}`);
      lines.push(`format:       ${m.format}${m.format === 'pwri' ? ' (PowerInfer sparse GGUF)' : ''}`);
      lines.push(`architecture: ${c.architecture}`);
      lines.push(`FFN:          ${c.ffn_activation} (hidden_act ${c.hidden_act})`);
      lines.push('config:');
      for (const [k, v] of Object.entries(c)) if (k !== 'architecture') lines.push(`  ${k.padEnd(26)}${String(v)}`);
      if (predictors) {
        lines.push(`predictors:   ranks ${formatRanks(predictors.ranks)}, threshold ${predictors.threshold} (powerinfer.sparse_threshold${m.metadata['powerinfer.sparse_threshold'] === undefined ? ' absent, default' : ''})`);
      }
      lines.push(`tensors:      ${m.tensorInfos.length}, ${formatBytes(total)}`);
      const nameW = Math.max(4, ...m.tensorInfos.map((t) => t.name.length));
      lines.push(`  ${'name'.padEnd(nameW)}  ${'type'.padEnd(5)}  ${'shape'.padEnd(14)}  bytes`);
      for (const t of m.tensorInfos)
        lines.push(`  ${t.name.padEnd(nameW)}  ${typeName(t.type).padEnd(5)}  ${('[' + t.shape.join(', ') + ']').padEnd(14)}  ${t.byteLength}`);
      if (tokInfo) {
        lines.push(`tokenizer:    ${tokInfo.type}, ${tokInfo.vocab_size} tokens, bos ${tokInfo.bos_token_id}, eos ${tokInfo.eos_token_id}, ` +
          `unk ${tokInfo.unk_token_id}, add_bos ${tokInfo.add_bos_token}, chat template ${tokInfo.chat_template ? 'yes' : 'no'}`);
      } else lines.push('tokenizer:    none (pass --tokenizer)');
      process.stdout.write(lines.join('\n') + '\n');
    });
}

/** Per-layer predictor ranks, compactly: `8 x 2` when all layers share one rank, else the list (0 = no predictor). */
export function formatRanks(ranks: number[]): string {
  return ranks.every((r) => r === ranks[0]) ? `${ranks[0]} x ${ranks.length} layers` : ranks.join(', ');
}

export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(2)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
