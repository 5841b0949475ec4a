import { statSync } from 'node:fs';

/**
 * Errors a user can fix. The CLI prints `message` as one line (no stack trace) and exits 1;
 * anything else is a bug and is printed with its stack.
 */
export class RelufyError extends Error {
  constructor(message: string) {
    super(oneLine(message));
    this.name = 'RelufyError';
  }
}

/** A file that cannot be read as the format it claims to be. Message: `<file>: <problem>`. */
export class FormatError extends RelufyError {
  readonly file: string;
  readonly problem: string;
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'FormatError';
    this.file = file;
    this.problem = oneLine(problem);
  }
}

/** A command-line option or API argument that is wrong. Message: `<option>: <problem>`. */
export class UsageError extends RelufyError {
  constructor(option: string, problem: string) {
    super(`${option}: ${problem}`);
    this.name = 'UsageError';
  }
}

/**
 * Makes a message one line: names and text quoted from a file (or a JSON parser's excerpt of it) may
 * hold line breaks; they are shown escaped (`\n`), as are other control characters.
 */
export function oneLine(message: string): string {
  return message.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/**
 * Checks that `path` is a regular file (or, with `allowDir`, a folder) before it is opened, so a
 * missing path, a FIFO or a device is a one-line error instead of an ENOENT trace or a hang.
 * @throws FormatError(path, 'no such file or folder' | 'not a regular file')
 */
export function checkReadablePath(path: string, allowDir: boolean): 'file' | 'dir' {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FormatError(path, code === 'ENOENT' || code === 'ENOTDIR' ? 'no such file or folder' : `cannot read (${code ?? String(e)})`);
  }
  if (st.isFile()) return 'file';
  if (allowDir && st.isDirectory()) return 'dir';
  throw new FormatError(path, st.isDirectory() ? 'is a folder, expected a file' : 'not a regular file');
}
