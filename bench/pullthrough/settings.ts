import { integerFromEnvironment } from '../support/environment.ts';
import { MiB } from '../support/measure.ts';

/** What one pull-through benchmark run measures, from BENCH_* variables (see run.ts). */
export interface PullThroughSettings {
  imageBytes: number;
  layers: number;
  repeats: number;
}

export function settingsFromEnvironment(): PullThroughSettings {
  return {
    imageBytes: integerFromEnvironment('BENCH_PULLTHROUGH_MIB', 500) * MiB,
    layers: integerFromEnvironment('BENCH_PULLTHROUGH_LAYERS', 4),
    repeats: integerFromEnvironment('BENCH_REPEATS', 3),
  };
}
