/** A whole-number BENCH_* setting: `fallback` when unset, an error naming the variable when invalid. */
export function integerFromEnvironment(name: string, fallback: number, minimum = 1): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < minimum) throw new Error(`${name} must be a whole number ≥ ${minimum}, not "${raw}"`);
  return value;
}
