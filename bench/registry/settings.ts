import { integerFromEnvironment } from '../support/environment.ts';
import { MiB } from '../support/measure.ts';

/** What one benchmark run measures, from BENCH_* variables (see run.ts). */
export interface BenchSettings {
  imageBytes: number;
  layers: number;
  repeats: number;
  loadSeconds: number;
  /** Load runs per registry and kind; rounds alternate which registry goes first. */
  loadRounds: number;
  connections: number;
  wrkThreads: number;
  blobGets: number;
}

export function settingsFromEnvironment(): BenchSettings {
  return {
    imageBytes: integerFromEnvironment('BENCH_IMAGE_MIB', 1024) * MiB,
    layers: integerFromEnvironment('BENCH_LAYERS', 8),
    repeats: integerFromEnvironment('BENCH_REPEATS', 5),
    loadSeconds: integerFromEnvironment('BENCH_SECONDS', 10),
    loadRounds: integerFromEnvironment('BENCH_LOAD_ROUNDS', 2),
    connections: integerFromEnvironment('BENCH_CONNECTIONS', 500),
    wrkThreads: integerFromEnvironment('BENCH_WRK_THREADS', 1),
    blobGets: integerFromEnvironment('BENCH_BLOB_GETS', 9),
  };
}
