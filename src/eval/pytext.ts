/**
 * Python `str` semantics the harness relies on (eval-spec §8): `isspace`, `strip`/`rstrip`,
 * `capitalize`, `len` in code points, `string.punctuation`, and `re.split(r"\s+", s)`.
 * JS `trim()`/`\s` differ from Python on U+001C–U+001F, U+0085 and U+FEFF, so these helpers
 * use CPython's whitespace set (verified with CPython 3.11: the 29 code points below).
 */

/** Code points for which CPython `str.isspace()` is true (identical to `re` `\s` for str patterns). */
const PY_SPACE = new Set<number>([
  0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680,
  0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a,
  0x2028, 0x2029, 0x202f, 0x205f, 0x3000,
]);

/** Regex source for one Python whitespace character (`\s` in a Python `str` pattern). */
export const PY_WS_CLASS = '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';

/** Python `ch.isspace()` for one code point. */
export function isPySpace(codePoint: number): boolean {
  return PY_SPACE.has(codePoint);
}

/** Python `s.rstrip()` (no argument). */
export function pyRstrip(s: string): string {
  let end = s.length;
  while (end > 0 && PY_SPACE.has(s.charCodeAt(end - 1))) end--;
  return s.slice(0, end);
}

/** Python `s.lstrip()` (no argument). */
export function pyLstrip(s: string): string {
  let start = 0;
  while (start < s.length && PY_SPACE.has(s.charCodeAt(start))) start++;
  return s.slice(start);
}

/** Python `s.strip()` (no argument). All Python whitespace is in the BMP, so UTF-16 units suffice. */
export function pyStrip(s: string): string {
  return pyLstrip(pyRstrip(s));
}

/** Python `len(s)`: the number of code points (not UTF-16 units). */
export function pyLen(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** UTF-8 byte length (`len(s.encode("utf-8"))`). */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** Title-case forms where Python's `str.capitalize()` differs from `toUpperCase()`. */
const TITLECASE: Record<string, string> = {
  '\u01c4': '\u01c5', '\u01c5': '\u01c5', '\u01c6': '\u01c5',
  '\u01c7': '\u01c8', '\u01c8': '\u01c8', '\u01c9': '\u01c8',
  '\u01ca': '\u01cb', '\u01cb': '\u01cb', '\u01cc': '\u01cb',
  '\u01f1': '\u01f2', '\u01f2': '\u01f2', '\u01f3': '\u01f2',
  '\u00df': 'Ss', '\ufb00': 'Ff', '\ufb01': 'Fi', '\ufb02': 'Fl', '\ufb03': 'Ffi', '\ufb04': 'Ffl',
};

/**
 * Python `s.capitalize()` (3.8+): the first character title-cased, **all the rest lower-cased**
 * (eval-spec §3.2, HellaSwag `ctx_b`).
 */
export function pyCapitalize(s: string): string {
  if (s.length === 0) return s;
  const first = String.fromCodePoint(s.codePointAt(0)!);
  const rest = s.slice(first.length);
  return (TITLECASE[first] ?? first.toUpperCase()) + rest.toLowerCase();
}

/** Python `string.punctuation`. */
export const PY_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/**
 * Python `re.split(r"\s+", s)`: empty leading/trailing pieces are kept (wikitext word count, §3.11).
 */
export function pySplitWhitespace(s: string): string[] {
  return s.split(new RegExp(`${PY_WS_CLASS}+`, 'u'));
}
