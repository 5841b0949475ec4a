// SentencePiece `tokenizer.model` (a serialized sentencepiece.ModelProto, src/sentencepiece_model.proto).

import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { FormatError } from '../../errors.js';
import { bytePieceValue } from '../spm.js';
import { tokenizerFromVocab } from '../tokenizer.js';
import { TokenType, type SpmVocab, type Tokenizer } from '../types.js';

/**
 * The subset of sentencepiece_model.proto (proto2, so field presence is tracked) read here. Enums
 * are declared as int32 so that unknown values reach the validation below instead of being mapped
 * silently; fields not listed are skipped by the decoder.
 */
const SENTENCEPIECE_PROTO = `
syntax = "proto2";
package sentencepiece;
message TrainerSpec {
  optional int32 model_type = 3;
  optional bool byte_fallback = 35;
  optional int32 unk_id = 40;
  optional int32 bos_id = 41;
  optional int32 eos_id = 42;
  optional int32 pad_id = 43;
}
message NormalizerSpec {
  optional string name = 1;
  optional bool add_dummy_prefix = 3;
}
message ModelProto {
  message SentencePiece {
    optional string piece = 1;
    optional float score = 2;
    optional int32 type = 3;
  }
  repeated SentencePiece pieces = 1;
  optional TrainerSpec trainer_spec = 2;
  optional NormalizerSpec normalizer_spec = 3;
}
`;

let modelProto: protobuf.Type | undefined;
function modelProtoType(): protobuf.Type {
  modelProto ??= protobuf.parse(SENTENCEPIECE_PROTO, { keepCase: true }).root.lookupType('sentencepiece.ModelProto');
  return modelProto;
}

/** TrainerSpec.ModelType */
const MODEL_TYPE_NAMES: Record<number, string> = { 1: 'UNIGRAM', 2: 'BPE', 3: 'WORD', 4: 'CHAR' };
const MODEL_TYPE_BPE = 2;

interface PieceMsg {
  piece?: string;
  score?: number;
  type?: number;
}
interface TrainerSpecMsg {
  model_type?: number;
  byte_fallback?: boolean;
  unk_id?: number;
  bos_id?: number;
  eos_id?: number;
  pad_id?: number;
}
interface NormalizerSpecMsg {
  add_dummy_prefix?: boolean;
}

/** A proto2 optional field: its value when present on the wire, else the proto default. */
function opt<T, K extends keyof T>(msg: T, key: K, dflt: NonNullable<T[K]>): NonNullable<T[K]> {
  return Object.hasOwn(msg as object, key) && msg[key] !== undefined && msg[key] !== null ? (msg[key] as NonNullable<T[K]>) : dflt;
}

/**
 * Parses tokenizer.model bytes. Requires trainer_spec.model_type BPE. Reads pieces (piece, score,
 * type NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4 UNUSED=5 BYTE=6; byte fallback uses the BYTE
 * pieces, so trainer_spec.byte_fallback is only checked for having some), unk/bos/eos/pad ids from
 * trainer_spec (proto defaults 0/1/2/-1; -1 = none) and normalizer_spec.add_dummy_prefix
 * (default true). add_bos_token true / add_eos_token false (the Llama convention; the model file
 * has no such flags). Not modelled: a non-identity normalizer (precompiled_charsmap) and
 * remove_extra_whitespaces (false for Llama 2 and Mistral).
 * Throws FormatError(file, …) when the bytes are not such a model.
 */
export function vocabFromSentencePieceModel(bytes: Uint8Array, file: string): SpmVocab {
  let msg: { pieces?: PieceMsg[]; trainer_spec?: TrainerSpecMsg; normalizer_spec?: NormalizerSpecMsg };
  try {
    msg = modelProtoType().decode(bytes) as typeof msg;
  } catch (e) {
    throw new FormatError(file, `not a SentencePiece model (protobuf: ${e instanceof Error ? e.message : String(e)})`);
  }
  const pieces = msg.pieces ?? [];
  if (pieces.length === 0) throw new FormatError(file, 'not a SentencePiece model: no pieces');
  const trainer = msg.trainer_spec;
  if (!trainer) throw new FormatError(file, 'not a SentencePiece model: no trainer_spec');
  const modelType = opt(trainer, 'model_type', 1);
  if (modelType !== MODEL_TYPE_BPE) {
    throw new FormatError(file, `unsupported SentencePiece model type ${MODEL_TYPE_NAMES[modelType] ?? modelType} (only BPE)`);
  }

  const n = pieces.length;
  const tokens = new Array<string>(n);
  const scores = new Float32Array(n);
  const types = new Array<TokenType>(n);
  for (let i = 0; i < n; i++) {
    const p = pieces[i]!;
    const text = opt(p, 'piece', '');
    if (text.length === 0) throw new FormatError(file, `piece ${i} is empty`);
    const score = opt(p, 'score', 0);
    if (!Number.isFinite(score)) throw new FormatError(file, `piece ${i} has a non-finite score`);
    const type = opt(p, 'type', TokenType.NORMAL);
    if (!Number.isInteger(type) || type < TokenType.NORMAL || type > TokenType.BYTE) {
      throw new FormatError(file, `piece ${i} has invalid type ${type}`);
    }
    if (type === TokenType.BYTE && bytePieceValue(text) < 0) {
      throw new FormatError(file, `piece ${i} is of type BYTE but is not of the form <0xXX>`);
    }
    tokens[i] = text;
    scores[i] = score;
    types[i] = type as TokenType;
  }
  if (opt(trainer, 'byte_fallback', false) && !types.includes(TokenType.BYTE)) {
    throw new FormatError(file, 'trainer_spec.byte_fallback is set but there are no BYTE pieces');
  }

  const specialId = (key: 'unk_id' | 'bos_id' | 'eos_id' | 'pad_id', dflt: number): number | null => {
    const id = opt(trainer, key, dflt);
    if (id === -1) return null;
    if (id < 0 || id >= n) throw new FormatError(file, `trainer_spec.${key} ${id} is out of range [0, ${n})`);
    return id;
  };
  const normalizer = msg.normalizer_spec ?? {};
  return {
    tokens,
    scores,
    types,
    bos_token_id: specialId('bos_id', 1),
    eos_token_id: specialId('eos_id', 2),
    unk_token_id: specialId('unk_id', 0),
    pad_token_id: specialId('pad_id', -1),
    add_bos_token: true,
    add_eos_token: false,
    add_space_prefix: opt(normalizer, 'add_dummy_prefix', true),
  };
}

/**
 * Loads a SentencePiece BPE `tokenizer.model` (Llama 2, Mistral `tokenizer.model.v1`, …).
 * Throws FormatError(path, …) for a malformed or non-BPE model (see `vocabFromSentencePieceModel`).
 */
export function loadSentencePieceModel(path: string): Tokenizer {
  return tokenizerFromVocab(vocabFromSentencePieceModel(readFileSync(path), path));
}
