/**
 * Errors a user can fix. The CLI prints `message` as one line (no stack trace) and exits 1;
 * anything else is a bug and is printed with its stack.
 */
export class RelufyError extends Error {
  constructor(message: string) {
    super(message);
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
    this.problem = problem;
  }
}

/** A command-line option or API argument that is wrong. Message: `<option>: <problem>`. */
export class UsageError extends RelufyError {
  constructor(option: string, problem: string) {
    super(`${option}: ${problem}`);
    this.name = 'UsageError';
  }
}
