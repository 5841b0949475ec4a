import { UsageError } from '../errors.js';

/** Commander argument parsers that fail with a one-line UsageError naming the option. */
export function intOption(flag: string, min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isInteger(v) || v < min || v > max)
      throw new UsageError(flag, `expected an integer${rangeText(min, max)}, got ${JSON.stringify(value)}`);
    return v;
  };
}

export function floatOption(flag: string, min = -Infinity, max = Infinity) {
  return (value: string): number => {
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v) || v < min || v > max)
      throw new UsageError(flag, `expected a number${rangeText(min, max)}, got ${JSON.stringify(value)}`);
    return v;
  };
}

export function choiceOption<T extends string>(flag: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new UsageError(flag, `expected one of ${choices.join(', ')}, got ${JSON.stringify(value)}`);
    return value as T;
  };
}

/** Collects a repeatable option into an array. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function rangeText(min: number, max: number): string {
  if (min > -Infinity && max < Infinity) return ` in ${min}..${max}`;
  if (min > -Infinity) return ` >= ${min}`;
  if (max < Infinity) return ` <= ${max}`;
  return '';
}
