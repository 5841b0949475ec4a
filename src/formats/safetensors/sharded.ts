import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { FormatError } from '../../errors.js';
import type { Tensor } from '../quant/types.js';
import { readSafetensors } from './read.js';

/** File name of the shard index written by transformers `save_pretrained` for sharded checkpoints. */
export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

/** A parsed `model.safetensors.index.json`. */
export interface ShardIndex {
  /** The index's `metadata` object (e.g. `{ total_size: 13476839424 }`), {} when absent. */
  metadata: Record<string, unknown>;
  /** Tensor name -> shard file name (relative to the folder), in index order. */
  weight_map: Map<string, string>;
}

/**
 * Reads and validates `<folder>/model.safetensors.index.json` (`{ metadata?, weight_map: {name: file} }`).
 * Shard names must be relative paths without `..` components.
 * @throws FormatError(indexPath, ...) when missing, not JSON, or malformed.
 */
export function readShardIndex(folder: string): ShardIndex {
  const path = join(folder, SAFETENSORS_INDEX);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new FormatError(path, `cannot read shard index (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError(path, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FormatError(path, 'not a JSON object');
  const { metadata, weight_map } = json as Record<string, unknown>;
  if (typeof weight_map !== 'object' || weight_map === null || Array.isArray(weight_map))
    throw new FormatError(path, 'weight_map is missing or not an object');
  const map = new Map<string, string>();
  for (const [name, file] of Object.entries(weight_map)) {
    if (typeof file !== 'string' || file === '' || isAbsolute(file) || file.split(/[\\/]/).includes('..'))
      throw new FormatError(path, `weight_map entry for ${name} is not a shard file name inside the folder: ${JSON.stringify(file)}`);
    map.set(name, file);
  }
  const meta = typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) ? (metadata as Record<string, unknown>) : {};
  return { metadata: meta, weight_map: map };
}

/**
 * Reads a sharded safetensors checkpoint: `<folder>/model.safetensors.index.json` and every
 * shard it names. Returns exactly the tensors listed in `weight_map`, each read from its listed
 * shard (same contents and types as `readSafetensors`), in index order; `files` gives the shard
 * path each tensor came from. Tensors present in a shard but not listed are ignored.
 * @throws FormatError(indexPath, 'shard file X (listed for N tensors, e.g. Y) does not exist');
 *   FormatError(shardPath, 'tensor X listed in model.safetensors.index.json is absent from this shard');
 *   any FormatError of `readSafetensors` for a shard.
 */
export function readShardedSafetensors(folder: string): {
  metadata: Record<string, unknown>;
  tensors: Map<string, Tensor>;
  files: Map<string, string>;
} {
  const index = readShardIndex(folder);
  const indexPath = join(folder, SAFETENSORS_INDEX);
  const byShard = new Map<string, string[]>();
  for (const [name, file] of index.weight_map) {
    const list = byShard.get(file);
    if (list === undefined) byShard.set(file, [name]);
    else list.push(name);
  }
  for (const [file, names] of byShard)
    if (!existsSync(join(folder, file)))
      throw new FormatError(indexPath, `shard file ${file} (listed for ${names.length} tensors, e.g. ${names[0]}) does not exist`);

  const loaded = new Map<string, Tensor>();
  const files = new Map<string, string>();
  for (const [file, names] of byShard) {
    const shardPath = join(folder, file);
    const { tensors } = readSafetensors(shardPath, { names: new Set(names) });
    for (const name of names) {
      const t = tensors.get(name);
      if (t === undefined) throw new FormatError(shardPath, `tensor ${name} listed in ${SAFETENSORS_INDEX} is absent from this shard`);
      loaded.set(name, t);
      files.set(name, shardPath);
    }
  }
  // Index order, not shard order.
  const tensors = new Map<string, Tensor>();
  for (const name of index.weight_map.keys()) tensors.set(name, loaded.get(name)!);
  return { metadata: index.metadata, tensors, files };
}
