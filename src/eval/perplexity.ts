/**
 * Token-level perplexity as llama.cpp's `llama-perplexity` computes it (eval-spec §6;
 * `tools/perplexity/perplexity.cpp` `perplexity()`): the whole text is tokenized with BOS (when the
 * vocab adds one), cut into non-overlapping chunks of `n_ctx` tokens, the first token of each chunk
 * replaced by BOS, and only the second half of each chunk scored.
 */
import { RelufyError } from '../errors.js';
import type { Engine } from '../model/engine-types.js';
import { logSoftmaxAt } from './requests.js';

export interface PerplexityOptions {
  /** Chunk length in tokens (`-c`, default 512). */
  nCtx?: number;
  /** Stop after this many chunks (`--chunks`, default all). */
  maxChunks?: number;
  /** Called after each chunk with the running estimate. */
  onChunk?: (chunk: number, chunks: number, ppl: number) => void;
}

export interface PerplexityResult {
  /** `exp(mean NLL)`. */
  ppl: number;
  /** Standard error of the PPL estimate (llama.cpp's "±"), NaN with one scored token. */
  pplStderr: number;
  /** Mean negative log-likelihood in nats per scored token. */
  nllPerToken: number;
  /** Running PPL after each chunk, as llama.cpp prints `[i]x,`. */
  perChunk: number[];
  tokens: number;
  chunks: number;
  scoredTokens: number;
  nCtx: number;
}

/**
 * Runs the llama.cpp perplexity procedure on `text`.
 * @throws RelufyError when the text has fewer than `2·n_ctx` tokens, or n_ctx exceeds the session capacity.
 */
export function perplexity(engine: Engine, text: string, options: PerplexityOptions = {}): PerplexityResult {
  const nCtx = options.nCtx ?? 512;
  if (!Number.isInteger(nCtx) || nCtx < 4) throw new RelufyError(`perplexity: context length must be an integer ≥ 4 (got ${nCtx})`);
  const tok = engine.tokenizer;
  const addBos = tok.vocab.add_bos_token && tok.vocab.bos_token_id !== null;
  const tokens = tok.encode(text, { add_bos: addBos, add_eos: false });
  if (tokens.length < 2 * nCtx) throw new RelufyError(`perplexity: you need at least ${2 * nCtx} tokens to evaluate perplexity with a context of ${nCtx} (the text has ${tokens.length}); use a smaller --ctx`);
  let nChunk = Math.floor(tokens.length / nCtx);
  if (options.maxChunks !== undefined && options.maxChunks > 0) nChunk = Math.min(nChunk, options.maxChunks);
  const session = engine.createSession({ capacity: nCtx });
  if (session.capacity < nCtx) throw new RelufyError(`perplexity: the engine's KV cache holds ${session.capacity} tokens, less than --ctx ${nCtx}`);
  const vocab = engine.config.vocab_size;
  const first = Math.floor(nCtx / 2);
  let nll = 0;
  let nll2 = 0;
  let count = 0;
  const perChunk: number[] = [];
  for (let i = 0; i < nChunk; i++) {
    const batch = tokens.slice(i * nCtx, (i + 1) * nCtx);
    if (addBos) batch[0] = tok.vocab.bos_token_id!;
    session.reset();
    session.forward(batch.slice(0, first), { allLogits: false });
    const logits = session.forward(batch.slice(first), { allLogits: true });
    // Rows are positions first .. nCtx-1; position j predicts batch[j+1], the last row is unused.
    for (let j = first; j < nCtx - 1; j++) {
      const r = j - first;
      const lp = logSoftmaxAt(logits.subarray(r * vocab, (r + 1) * vocab), batch[j + 1]!).logprob;
      nll -= lp;
      nll2 += lp * lp;
      count++;
    }
    perChunk.push(Math.exp(nll / count));
    options.onChunk?.(i + 1, nChunk, perChunk[perChunk.length - 1]!);
  }
  const mean = nll / count;
  const mean2 = nll2 / count - mean * mean;
  const ppl = Math.exp(mean);
  const se = mean2 > 0 ? Math.sqrt(mean2 / (count - 1)) * ppl : Number.NaN;
  return { ppl, pplStderr: se, nllPerToken: mean, perChunk, tokens: tokens.length, chunks: nChunk, scoredTokens: count, nCtx };
}
