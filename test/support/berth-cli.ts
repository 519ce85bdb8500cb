import assert from 'node:assert/strict';
import { run, type RunResult } from './processes.ts';

/** This checkout's `berth` command, run with the Node running the tests. */
export const berthCliPath = new URL('../../bin/berth.js', import.meta.url).pathname;

export interface BerthCliOptions {
  /** Added to the environment (after BERTH_URL and BERTH_TOKEN, so it may replace them). */
  env?: Record<string, string>;
  /** Standard input. */
  input?: string;
  /** BERTH_TOKEN; the admin's when unset. */
  token?: string;
}

/** `berth <args>` against a running Berth as its admin (or `token`); a failing command is a result, not an error. */
export function runBerthCli(berth: { url: string; adminToken: string }, args: string[], options: BerthCliOptions = {}): Promise<RunResult> {
  return run(process.execPath, [berthCliPath, ...args], {
    env: { ...process.env, BERTH_URL: berth.url, BERTH_TOKEN: options.token ?? berth.adminToken, ...options.env },
    allowFailure: true,
    input: options.input,
  });
}

/** `berth <args> --json`, which must exit 0: its output, parsed. */
export async function berthCliJson<T>(berth: { url: string; adminToken: string }, args: string[], options: BerthCliOptions = {}): Promise<T> {
  const result = await runBerthCli(berth, [...args, '--json'], options);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as T;
}
