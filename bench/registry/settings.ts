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
  const integer = (name: string, fallback: number, minimum = 1): number => {
    const raw = process.env[name];
    const value = raw === undefined || raw === '' ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < minimum) throw new Error(`${name} must be a whole number ≥ ${minimum}, not "${raw}"`);
    return value;
  };
  return {
    imageBytes: integer('BENCH_IMAGE_MIB', 1024) * MiB,
    layers: integer('BENCH_LAYERS', 8),
    repeats: integer('BENCH_REPEATS', 5),
    loadSeconds: integer('BENCH_SECONDS', 10),
    loadRounds: integer('BENCH_LOAD_ROUNDS', 2),
    connections: integer('BENCH_CONNECTIONS', 500),
    wrkThreads: integer('BENCH_WRK_THREADS', 1),
    blobGets: integer('BENCH_BLOB_GETS', 9),
  };
}
