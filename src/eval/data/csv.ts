/**
 * RFC 4180 CSV parsing (quoted fields, doubled quotes, newlines inside quotes, CRLF or LF records),
 * for the MMLU CSV form (hendrycks `data/{dev,test}/<subject>_{dev,test}.csv`).
 */
import { FormatError } from '../../errors.js';

/**
 * Parses CSV text into rows of fields. A trailing newline does not make an empty row.
 * @throws FormatError(file, …) for an unterminated quoted field or text after a closing quote.
 */
export function parseCsv(text: string, file: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let line = 1;
  let quoted = false;
  let fieldStarted = false;
  const n = text.length;
  const endField = (): void => {
    row.push(field);
    field = '';
    fieldStarted = false;
  };
  while (i < n) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        const next = text[i];
        if (next !== undefined && next !== ',' && next !== '\n' && next !== '\r') {
          throw new FormatError(file, `line ${line}: unexpected character after a closing quote`);
        }
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"' && !fieldStarted && field === '') {
      quoted = true;
      fieldStarted = true;
      i++;
      continue;
    }
    if (c === ',') {
      endField();
      i++;
      continue;
    }
    if (c === '\r' || c === '\n') {
      endField();
      rows.push(row);
      row = [];
      if (c === '\r' && text[i + 1] === '\n') i++;
      i++;
      line++;
      continue;
    }
    field += c;
    fieldStarted = true;
    i++;
  }
  if (quoted) throw new FormatError(file, `line ${line}: unterminated quoted field`);
  if (fieldStarted || field !== '' || row.length > 0) {
    endField();
    rows.push(row);
  }
  return rows;
}
