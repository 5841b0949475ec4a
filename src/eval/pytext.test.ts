import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pyCapitalize, pyLen, pyRstrip, pySplitWhitespace, pyStrip, utf8Length } from './pytext.js';

test('strip uses Python whitespace (\\x1c-\\x1f, \\x85 yes; \\ufeff no)', () => {
  assert.equal(pyStrip('\x1c\x85 a b\u3000\x1f'), 'a b');
  assert.equal(pyStrip('\ufeffa\ufeff'), '\ufeffa\ufeff');
  assert.equal(pyRstrip('Answer: \n'), 'Answer:');
});

test('capitalize lowercases the rest (HellaSwag ctx_b)', () => {
  assert.equal(pyCapitalize('the man named John'), 'The man named john');
  assert.equal(pyCapitalize('ßa'), 'Ssa');
  assert.equal(pyCapitalize('ǆemal'), 'ǅemal');
  assert.equal(pyCapitalize(''), '');
});

test('len counts code points; utf8Length counts bytes', () => {
  assert.equal(pyLen('a😀é'), 3);
  assert.equal('a😀é'.length, 4);
  assert.equal(utf8Length('a😀é'), 7);
});

test('re.split(r"\\s+") keeps empty edge pieces', () => {
  assert.deepEqual(pySplitWhitespace(' a  b\n'), ['', 'a', 'b', '']);
  assert.deepEqual(pySplitWhitespace('a\x1cb'), ['a', 'b']);
});
