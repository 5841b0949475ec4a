import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accuracy, accuracyBytes, accuracyNorm, aggregateGroup, argmax, bitsPerByte, exactMatch, mc2Score, mean, meanStderr, regexFilter, weightedPerplexity } from './metrics.js';
import { GSM8K_FLEXIBLE, GSM8K_IGNORE_V3, GSM8K_STRICT, gsm8kOldExtract } from './tasks/gsm8k.js';

const close = (a: number, b: number, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test('acc: argmax with ties to the lowest index', () => {
  assert.equal(argmax([-1, -0.5, -0.5]), 1);
  assert.equal(accuracy([-2, -1, -1], 1), 1);
  assert.equal(accuracy([-2, -1, -1], 2), 0);
  assert.equal(accuracy([-3, -3], 0), 1); // winogrande/boolq tie → first option
});

test('acc_norm divides by code points of the choice (not UTF-16 units, not bytes)', () => {
  // ll/len: "😀😀" has 2 code points (4 UTF-16 units, 8 bytes); "abc" has 3.
  const lls = [-2.2, -3.0];
  const choices = ['😀😀', 'abc'];
  assert.equal(accuracyNorm(lls, choices, 1), 1); // -1.1 vs -1.0 → choice 1
  assert.equal(accuracy(lls, 0), 1); // raw sum prefers choice 0
  assert.equal(accuracyBytes(lls, choices, 0), 1); // -0.275 vs -1.0 → choice 0
});

test('mc2: label mask (v3.0) vs split at first 0 (v2.0)', () => {
  const lls = [-1, -2, -0.5, -3];
  close(mc2Score(lls, [1, 0, 1, 0], 'mask'), 0.8403474165753855);
  close(mc2Score(lls, [1, 0, 1, 0], 'split'), 0.31726532567666477);
  close(mc2Score(lls, [1, 1, 0, 0], 'mask'), mc2Score(lls, [1, 1, 0, 0], 'split'));
});

test('regex filters: strict-match and flexible-extract (Python findall semantics)', () => {
  const cases: [string, string, string][] = [
    ['The answer is 18.\n#### 18', '18', '18'],
    ['so $29.00 total', '[invalid]', '$29.00'],
    ['it is 1,234. Then 5', '[invalid]', '5'],
    ['no numbers', '[invalid]', '[invalid]'],
    ['#### -3.5,', '-3.5,', '-3.5,'],
  ];
  for (const [resp, strict, flex] of cases) {
    assert.equal(regexFilter(resp, GSM8K_STRICT, 0), strict, resp);
    assert.equal(regexFilter(resp, GSM8K_FLEXIBLE, -1), flex, resp);
  }
});

test('exact_match with the GSM8K regexes_to_ignore (values from CPython re.sub)', () => {
  assert.equal(exactMatch('$29.00', 'Blah <<a=b>>\n#### 29', GSM8K_IGNORE_V3, true), 0); // issue #3214 quirk kept
  assert.equal(exactMatch('18.', 'x\n#### 18', GSM8K_IGNORE_V3, true), 1);
  assert.equal(exactMatch('1,234', '#### 1,234', GSM8K_IGNORE_V3, true), 1);
  assert.equal(exactMatch('18.\n', '#### 18', GSM8K_IGNORE_V3, true), 0); // "." removed, "\n" stays
  assert.equal(gsm8kOldExtract('so #### 1,234 and #### 5'), '1234');
  assert.equal(gsm8kOldExtract('none'), '[invalid]');
});

test('mean, stderr (sample std / sqrt n), N/A for n ≤ 1', () => {
  assert.equal(mean([1, 0, 1, 1, 0]), 0.6);
  close(meanStderr([1, 0, 1, 1, 0]) as number, 0.24494897427831783);
  assert.equal(meanStderr([1]), 'N/A');
});

test('perplexities are sums over documents, not means of ratios', () => {
  const items: [number, number][] = [[-10, 5], [-20, 7]];
  close(weightedPerplexity(items), 12.182493960703473, 1e-9);
  close(bitsPerByte(items), 3.6067376022224087);
});

test('group aggregation: item-weighted, macro, pooled stderr', () => {
  const subs = [{ score: 0.5, stderr: 0.1, size: 10 }, { score: 0.8, stderr: 0.05, size: 20 }];
  const w = aggregateGroup(subs, true);
  close(w.score, (0.5 * 10 + 0.8 * 20) / 30);
  close(w.stderr as number, 0.0469295317724453);
  close(aggregateGroup(subs, false).score, 0.65);
  assert.equal(aggregateGroup([{ score: 1, stderr: 'N/A', size: 1 }], true).stderr, 'N/A');
});
