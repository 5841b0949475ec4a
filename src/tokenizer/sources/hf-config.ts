// HF `tokenizer_config.json` (transformers PreTrainedTokenizer settings) applied to an SpmVocab.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../../errors.js';
import type { SpmVocab } from '../types.js';

/** The tokenizer_config.json fields relufy uses (HF names). Token fields hold the token text. */
export interface HfTokenizerConfig {
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  chat_template?: string;
  bos_token?: string | null;
  eos_token?: string | null;
  unk_token?: string | null;
  pad_token?: string | null;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Parses JSON text, turning a syntax error into FormatError(file, …). */
export function parseJsonFile(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(file, `invalid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** `"<s>"`, `{"content": "<s>", …}` (AddedToken) or null. */
function tokenText(value: unknown, key: string, file: string): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === null) return null;
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  throw new FormatError(file, `${key} is neither a string nor an AddedToken object`);
}

/**
 * Reads the fields of a tokenizer_config.json. `chat_template` may be a string or a list of
 * `{name, template}` (the one named "default", else the first, is used).
 * Throws FormatError(file, …) on invalid JSON or wrongly typed fields.
 */
export function parseTokenizerConfig(text: string, file: string): HfTokenizerConfig {
  const json = parseJsonFile(text, file);
  if (!isObject(json)) throw new FormatError(file, 'expected a JSON object');
  const config: HfTokenizerConfig = {};
  for (const key of ['add_bos_token', 'add_eos_token'] as const) {
    const v = json[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'boolean') throw new FormatError(file, `${key} is not a boolean`);
    config[key] = v;
  }
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token'] as const) {
    const t = tokenText(json[key], key, file);
    if (t !== undefined) config[key] = t;
  }
  const ct = json.chat_template;
  if (typeof ct === 'string') {
    config.chat_template = ct;
  } else if (Array.isArray(ct) && ct.length > 0) {
    const named = ct.find((t) => isObject(t) && t.name === 'default') ?? ct[0];
    if (!isObject(named) || typeof named.template !== 'string') {
      throw new FormatError(file, 'chat_template list entries must be {name, template}');
    }
    config.chat_template = named.template;
  } else if (ct !== undefined && ct !== null) {
    throw new FormatError(file, 'chat_template is neither a string nor a list of {name, template}');
  }
  return config;
}

/**
 * Reads `tokenizer_config.json` (and a `chat_template.jinja`, newer HF layout, when the config has
 * no template) from `dir`. Returns null when neither exists; `file` is the config's path for errors.
 */
export function readTokenizerConfigDir(dir: string): { config: HfTokenizerConfig; file: string } | null {
  const file = join(dir, 'tokenizer_config.json');
  const jinja = join(dir, 'chat_template.jinja');
  const hasConfig = existsSync(file);
  const hasJinja = existsSync(jinja);
  if (!hasConfig && !hasJinja) return null;
  const config = hasConfig ? parseTokenizerConfig(readFileSync(file, 'utf8'), file) : {};
  if (config.chat_template === undefined && hasJinja) config.chat_template = readFileSync(jinja, 'utf8');
  return { config, file };
}

/**
 * A copy of `vocab` with the config's add_bos_token / add_eos_token / chat_template and special
 * tokens (looked up by text) applied; fields absent from the config are left unchanged.
 * Throws FormatError(file, …) when a named special token is not in the vocabulary.
 */
export function applyTokenizerConfig(vocab: SpmVocab, config: HfTokenizerConfig, file: string): SpmVocab {
  const out: SpmVocab = { ...vocab };
  if (config.add_bos_token !== undefined) out.add_bos_token = config.add_bos_token;
  if (config.add_eos_token !== undefined) out.add_eos_token = config.add_eos_token;
  if (config.chat_template !== undefined) out.chat_template = config.chat_template;
  const lookup = (text: string, key: string): number => {
    const id = vocab.tokens.indexOf(text);
    if (id < 0) throw new FormatError(file, `${key} ${JSON.stringify(text)} is not in the vocabulary`);
    return id;
  };
  if (config.bos_token !== undefined) out.bos_token_id = config.bos_token === null ? null : lookup(config.bos_token, 'bos_token');
  if (config.eos_token !== undefined) out.eos_token_id = config.eos_token === null ? null : lookup(config.eos_token, 'eos_token');
  if (config.unk_token !== undefined) out.unk_token_id = config.unk_token === null ? null : lookup(config.unk_token, 'unk_token');
  if (config.pad_token !== undefined) out.pad_token_id = config.pad_token === null ? null : lookup(config.pad_token, 'pad_token');
  return out;
}
