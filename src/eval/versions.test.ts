import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../errors.js';
import { harnessProfile } from './versions.js';

test('harness profiles: BOS, seeds, mc2, gsm8k and MMLU versions per release (eval-spec §0)', () => {
  const old = harnessProfile('leaderboard-v1');
  assert.deepEqual([old.version, old.bosDefault, old.prefixToken, old.fewshotSeed, old.shuffleEvalDocs, old.mc2Mode, old.gsm8k], ['b281b09', false, 'eos', 42, true, 'split', 'old']);
  const v040 = harnessProfile('v0.4.0');
  assert.deepEqual([v040.gsm8k, v040.mmluSubtaskVersion, v040.fewshotSeed, v040.extraDrawQuirk], ['v1', 0, 1234, true]);
  assert.equal(harnessProfile('0.4.1').gsm8k, 'v2');
  assert.equal(harnessProfile('0.4.2').gsm8k, 'v3');
  assert.equal(harnessProfile('0.4.4').mmluSubtaskVersion, 1);
  assert.equal(harnessProfile('0.4.8').mc2Mode, 'split');
  assert.equal(harnessProfile('0.4.9').mc2Mode, 'mask');
  assert.equal(harnessProfile('0.4.9.1').bosDefault, false);
  assert.equal(harnessProfile('0.4.9.2').bosDefault, 'tokenizer');
  assert.equal(harnessProfile().version, '0.4.12');
  assert.throws(() => harnessProfile('0.5'), (e: unknown) => e instanceof UsageError && /^--harness-version: unknown version "0\.5"/.test(e.message));
});
