import { integerFromEnvironment } from '../support/environment.ts';
import type { ProxyId } from './proxies.ts';

/** What one proxy benchmark run measures, from BENCH_* variables (see run.ts). */
export interface ProxyBenchSettings {
  loadSeconds: number;
  /** wrk runs per proxy, response and connection count; the report shows each figure's median. */
  repeats: number;
  /** One wrk run per proxy and response before its measured runs, not counted. */
  warmUpSeconds: number;
  /** wrk connections (one thread), the 1, 10 and 100. */
  connections: number[];
  wsRounds: number;
  idleSockets: number;
  /** Steps of `idleSockets` more, all kept open; the report shows the median step's growth. */
  idleSteps: number;
  proxies: ProxyId[];
}

const allProxies: ProxyId[] = ['direct', 'nginx', 'floor', 'nodefloor', 'chp', 'berth'];

export function settingsFromEnvironment(): ProxyBenchSettings {
  return {
    loadSeconds: integerFromEnvironment('BENCH_SECONDS', 5),
    repeats: integerFromEnvironment('BENCH_REPEATS', 3),
    warmUpSeconds: integerFromEnvironment('BENCH_WARMUP_SECONDS', 2),
    connections: [1, 10, 100],
    wsRounds: integerFromEnvironment('BENCH_WS_ROUNDS', 2000),
    idleSockets: integerFromEnvironment('BENCH_IDLE_SOCKETS', 1000),
    idleSteps: integerFromEnvironment('BENCH_IDLE_STEPS', 3),
    proxies: proxiesFromEnvironment(),
  };
}

/** BENCH_PROXIES, e.g. "direct,nginx,chp": a subset, in the fixed order; all when unset. */
function proxiesFromEnvironment(): ProxyId[] {
  const raw = process.env.BENCH_PROXIES;
  if (!raw) return allProxies;
  const chosen = raw.split(',').map((name) => name.trim());
  const unknown = chosen.filter((name) => !allProxies.includes(name as ProxyId));
  if (unknown.length > 0 || chosen.length === 0) throw new Error(`BENCH_PROXIES names ${allProxies.join(', ')}, not "${raw}"`);
  return allProxies.filter((id) => chosen.includes(id));
}
