import { setTimeout as sleep } from 'node:timers/promises';
import { get, type Route } from '../proxy/requests.ts';
import type { LauncherId } from './settings.ts';

/** One session as a launcher started it, once Jupyter answered through the launcher's path. */
export interface LaunchedSession {
  /** From the start request (or the spawn) to the end of the first 200 from Jupyter, ms. */
  readyMs: number;
  /** From the start request to its answer, ms (the spawn itself for the tool alone). */
  requestMs: number;
  /**
   * From the start request to the launcher's own word that the session runs (Berth: the time of its
   * `running` status; JupyterHub: its 201 to the start request), ms; null when it has none.
   */
  runningMs: number | null;
  /** Stops the session and frees what it held (studio, hub user); resolves once nothing of it runs. */
  stop(): Promise<void>;
}

/** A session ready to start. */
export interface PreparedSession {
  /** Starts the session (the clock starts here) and waits for Jupyter to answer through the launcher's path. */
  launch(): Promise<LaunchedSession>;
}

/** A way to get a running Jupyter: the tool started directly, JupyterHub 3, Berth. */
export interface Launcher {
  id: LauncherId;
  label: string;
  /** How it starts Jupyter, for the report's header. */
  setup: string;
  /**
   * Readies session `name` (unique in the run) with what is not timed (a hub user and its token, a
   * directory), so that sessions started together start at the same moment.
   */
  prepare(name: string): Promise<PreparedSession>;
  /**
   * The launcher's own processes, without its sessions' (none for the tool alone): their RSS is its
   * control plane's memory, their CPU time what it spends on sessions besides running them.
   */
  controlPlanePids: number[];
  /** Lines of its logs that report a failure of the launcher rather than of one request. */
  loggedFailures(): Promise<string[]>;
  /** Studios that are never started, for the control plane's memory; absent without a control plane. */
  idleStudios?: IdleStudios;
}

/** Studios (JupyterHub: users) created and never started. */
export interface IdleStudios {
  /** Creates one with a single request; resolves with what remove() takes. */
  create(name: string): Promise<string>;
  remove(ids: string[]): Promise<void>;
  /** Before its RSS is read: a full garbage collection in a Node control plane. */
  collectGarbage?(): Promise<void>;
}

/**
 * Jupyter Notebook 6's file browser (`/tree`): the page a user lands on, and the proof that the answer
 * comes from Jupyter, not from a launcher's "starting" page or a redirect to its login.
 */
export const jupyterTreeTitle = /<title>Home Page - Select or create a notebook<\/title>/;

export interface ReadinessWatch {
  pollMs: number;
  timeoutMs?: number;
  /** Why the session can no longer come up (exited, errored), checked about once a second; undefined while it may. */
  failure?: () => Promise<string | undefined>;
}

/**
 * Polls `GET path` through `route`, a new connection each time, until Jupyter answers it with its
 * tree page; any other answer (503 starting page, 302 to a login, refused connection) means not yet.
 */
export async function untilJupyterAnswers(route: Route, path: string, watch: ReadinessWatch): Promise<void> {
  const deadline = Date.now() + (watch.timeoutMs ?? 120_000);
  let nextFailureCheck = Date.now() + 1_000;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const answer = await get(route, path, 10_000);
      if (answer.status === 200 && jupyterTreeTitle.test(answer.body.toString('utf8'))) return;
      last = `status ${answer.status}: ${answer.body.toString('utf8', 0, 200).replace(/\s+/g, ' ')}`;
    } catch (error) {
      last = (error as Error).message;
    }
    if (watch.failure && Date.now() >= nextFailureCheck) {
      const reason = await watch.failure();
      if (reason) throw new Error(`GET ${path} via ${route.address}: the session will not come up: ${reason} (last answer: ${last})`);
      nextFailureCheck = Date.now() + 1_000;
    }
    await sleep(watch.pollMs);
  }
  throw new Error(`GET ${path} via ${route.address} was not answered by Jupyter in ${(watch.timeoutMs ?? 120_000) / 1000} s (last answer: ${last})`);
}

/** Milliseconds since `start` (a performance.now() reading). */
export function msSince(start: number): number {
  return performance.now() - start;
}

/** A JSON API call with fetch: the parsed body when the status is one of `expected`, an error with the body otherwise. */
export async function callJson<T>(
  method: string,
  url: string,
  options: { authorization: string; body?: unknown; expected: number[] },
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, {
    method,
    headers: { Authorization: options.authorization, ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  if (!options.expected.includes(response.status)) throw new Error(`${method} ${url} answered ${response.status}: ${text.slice(0, 1000)}`);
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}
