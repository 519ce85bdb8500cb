import { MiB } from '../support/measure.ts';

/** What one pull-through benchmark run measures, from BENCH_* variables (see run.ts). */
export interface PullThroughSettings {
  imageBytes: number;
  layers: number;
  repeats: number;
}

export function settingsFromEnvironment(): PullThroughSettings {
  const integer = (name: string, fallback: number, minimum = 1): number => {
    const raw = process.env[name];
    const value = raw === undefined || raw === '' ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < minimum) throw new Error(`${name} must be a whole number ≥ ${minimum}, not "${raw}"`);
    return value;
  };
  return {
    imageBytes: integer('BENCH_PULLTHROUGH_MIB', 500) * MiB,
    layers: integer('BENCH_PULLTHROUGH_LAYERS', 4),
    repeats: integer('BENCH_REPEATS', 3),
  };
}
