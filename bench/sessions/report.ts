import { cpus } from 'node:os';
import { printTable } from '../../src/cli/output.ts';
import { backgroundLine, formatBytes, median, percentile } from '../support/measure.ts';
import type { LauncherId, SessionBenchSettings } from './settings.ts';

export type ModeId = 'sequential' | 'concurrent';

/** What one launcher's sessions measured in one mode. */
export interface ModeTimes {
  readyMs: number[];
  requestMs: number[];
  /** Where the launcher said so (see LaunchedSession.runningMs). */
  runningMs: number[];
  /** CPU time of the launcher's own processes while its sessions started (to ready), summed over all; null without any. */
  controlPlaneCpuS: number | null;
}

/** A control plane's RSS with no studios and with `count` studios (JupyterHub: users) created and never started. */
export interface ControlPlaneMemory {
  count: number;
  emptyBytes: number;
  fullBytes: number;
  /** Each create request's time, ms. */
  createMs: number[];
}

export interface LauncherResults {
  id: LauncherId;
  label: string;
  setup: string;
  modes: Partial<Record<ModeId, ModeTimes>>;
  memory?: ControlPlaneMemory;
}

export interface SessionReport {
  settings: SessionBenchSettings;
  results: LauncherResults[];
  versions: { jupyterhub: string; chp: string; notebook: string };
  background: { before: number; after: number };
  loggedFailures: string[];
}

/** The issue's targets: Berth ÷ JupyterHub per mode, and Berth − the tool alone (sequential). */
const ratioTarget: Record<ModeId, number> = { sequential: 0.8, concurrent: 0.6 };
const overheadTargetMs = 100;

const columnName: Record<LauncherId, string> = { tool: 'JUPYTER ALONE', jupyterhub: 'JUPYTERHUB', berth: 'BERTH' };

const ms = (value: number) => `${value.toFixed(0)} ms`;
const optionalMs = (value: number | null) => (value === null ? '—' : ms(value));
const signedMs = (value: number) => `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(0)} ms`;
/** A target line; `outOfReach` when the tool alone, which Berth starts too, already misses it. */
interface Target {
  ok: boolean;
  outOfReach?: boolean;
  text: string;
}

const verdict = (target: Target) => (target.ok ? 'PASS' : target.outOfReach ? 'MISS (out of reach)' : 'MISS');

function modeTitle(mode: ModeId, settings: SessionBenchSettings, sessions: number): string {
  return mode === 'sequential'
    ? `sequential: ${sessions} sessions each, one at a time`
    : `${settings.parallel} at once: ${sessions} sessions each, in batches of ${settings.parallel} started together`;
}

export function printReport(report: SessionReport): void {
  printHeader(report);
  const targets: Target[] = [];
  for (const mode of ['sequential', 'concurrent'] as const) {
    const measured = report.results.filter((r) => r.modes[mode]);
    if (measured.length === 0) continue;
    const sessions = measured[0]!.modes[mode]!.readyMs.length;
    console.log(`Click-to-ready, ${modeTitle(mode, report.settings, sessions)} (lower is better)`);
    const metrics: Array<{ name: string; value: (times: ModeTimes) => number | null }> = [
      { name: 'median', value: (t) => median(t.readyMs) },
      { name: 'p90', value: (t) => percentile(t.readyMs, 90) },
      { name: 'min', value: (t) => Math.min(...t.readyMs) },
      { name: 'max', value: (t) => Math.max(...t.readyMs) },
      { name: 'start request answered (median)', value: (t) => median(t.requestMs) },
      { name: 'launcher says running (median)', value: (t) => (t.runningMs.length > 0 ? median(t.runningMs) : null) },
      { name: 'control-plane CPU per session start', value: (t) => (t.controlPlaneCpuS === null ? null : (t.controlPlaneCpuS * 1000) / t.readyMs.length) },
    ];
    printTable(
      ['METRIC', ...measured.map((r) => columnName[r.id])],
      metrics.map((metric) => [metric.name, ...measured.map((r) => optionalMs(metric.value(r.modes[mode]!)))]),
    );
    targets.push(...modeTargets(mode, report));
    console.log('');
  }
  printMemory(report);
  const outOfReach = targets.filter((t) => !t.ok && t.outOfReach).length;
  console.log(`targets (issue 6): ${targets.filter((t) => t.ok).length} of ${targets.length} met${outOfReach > 0 ? `; ${outOfReach} missed are out of reach (Jupyter alone misses them too)` : ''}`);
  for (const target of targets) console.log(`  ${verdict(target)}  ${target.text}`);
  if (report.loggedFailures.length > 0) {
    console.log('');
    console.log(`the launchers logged ${report.loggedFailures.length} error lines, e.g.:`);
    for (const line of report.loggedFailures.slice(0, 10)) console.log(`  ${line.slice(0, 300)}`);
  }
}

/** Berth ÷ JupyterHub (median, and p90 for information) and Berth − the tool alone, where both were measured. */
function modeTargets(mode: ModeId, report: SessionReport): Target[] {
  const timesOf = (id: LauncherId) => report.results.find((r) => r.id === id)?.modes[mode];
  const [berth, hub, tool] = [timesOf('berth'), timesOf('jupyterhub'), timesOf('tool')];
  const where = mode === 'sequential' ? 'sequential' : `${report.settings.parallel} at once`;
  const lines: Target[] = [];
  if (berth && hub) {
    const ratio = median(berth.readyMs) / median(hub.readyMs);
    const p90Ratio = percentile(berth.readyMs, 90) / percentile(hub.readyMs, 90);
    console.log(`Berth ÷ JupyterHub: median ${ratio.toFixed(2)}×, p90 ${p90Ratio.toFixed(2)}×`);
    // Berth starts the same Jupyter: where Jupyter alone already misses the ratio, no control plane can meet it.
    const toolRatio = tool ? median(tool.readyMs) / median(hub.readyMs) : undefined;
    lines.push({
      ok: ratio <= ratioTarget[mode],
      outOfReach: toolRatio === undefined ? undefined : toolRatio > ratioTarget[mode],
      text:
        `${where}: Berth's median ${ratio.toFixed(2)}× JupyterHub's (${ms(median(berth.readyMs))} vs ${ms(median(hub.readyMs))}; target ≤ ${ratioTarget[mode].toFixed(2)}×)` +
        (toolRatio === undefined ? '' : `; Jupyter alone ${toolRatio.toFixed(2)}×`),
    });
  }
  if (berth && tool) {
    const overhead = median(berth.readyMs) - median(tool.readyMs);
    const p90Overhead = percentile(berth.readyMs, 90) - percentile(tool.readyMs, 90);
    console.log(`Berth − Jupyter alone: median ${signedMs(overhead)}, p90 ${signedMs(p90Overhead)}`);
    // The issue sets the limit for one session at a time; at once, the sessions' Jupyters share the cores.
    if (mode === 'sequential') {
      lines.push({
        ok: overhead <= overheadTargetMs,
        text: `${where}: Berth's median ${signedMs(overhead)} over Jupyter's own start (${ms(median(berth.readyMs))} vs ${ms(median(tool.readyMs))}; target ≤ +${overheadTargetMs} ms)`,
      });
    }
  }
  if (hub && tool) console.log(`JupyterHub − Jupyter alone: median ${signedMs(median(hub.readyMs) - median(tool.readyMs))}`);
  return lines;
}

function printMemory(report: SessionReport): void {
  const measured = report.results.filter((r) => r.memory);
  if (measured.length === 0) return;
  const count = measured[0]!.memory!.count;
  console.log(
    `Control-plane memory with ${count} studios (JupyterHub: users) created and never started: RSS of Berth's server, ` +
      "of JupyterHub's hub + its proxy; read after 1 s idle (and a full GC for Berth)",
  );
  const perStudio = (m: ControlPlaneMemory) => (m.count > 0 ? (m.fullBytes - m.emptyBytes) / m.count : NaN);
  const kib = (bytes: number) => (Number.isNaN(bytes) ? '—' : `${bytes < 0 ? '−' : ''}${(Math.abs(bytes) / 1024).toFixed(1)} KiB`);
  printTable(
    ['METRIC', ...measured.map((r) => columnName[r.id])],
    [
      ['RSS, no studios', ...measured.map((r) => formatBytes(r.memory!.emptyBytes))],
      [`RSS, ${count} studios`, ...measured.map((r) => formatBytes(r.memory!.fullBytes))],
      ['growth per studio', ...measured.map((r) => kib(perStudio(r.memory!)))],
      ['create request (median)', ...measured.map((r) => (r.memory!.createMs.length > 0 ? ms(median(r.memory!.createMs)) : '—'))],
    ],
  );
  const berth = measured.find((r) => r.id === 'berth')?.memory;
  const hub = measured.find((r) => r.id === 'jupyterhub')?.memory;
  if (berth && hub) console.log(`Berth ÷ JupyterHub RSS with ${count} studios: ${(berth.fullBytes / hub.fullBytes).toFixed(2)}×`);
  console.log('');
}

function printHeader(report: SessionReport): void {
  const { settings, versions } = report;
  console.log('');
  console.log(`Sessions benchmark (click-to-ready): Jupyter Notebook ${versions.notebook} started by Berth vs JupyterHub ${versions.jupyterhub}, one run on this machine`);
  for (const result of report.results) console.log(`${result.label}: ${result.setup}`);
  if (report.results.some((r) => r.id === 'jupyterhub')) console.log(`JupyterHub's proxy: configurable-http-proxy ${versions.chp} (npm)`);
  console.log(
    `readiness: a new connection every ${settings.pollMs} ms until Jupyter answers GET /tree with its page (200 and its title; ` +
      'a starting page, a redirect or a refused connection is not ready; Berth holds a GET for a starting session until its tool ' +
      'is up, connect.startWaitS, so it answers the first poll when ready); every session is stopped and removed before the next ' +
      'measurement; one unmeasured warm-up session per launcher; the launchers take turns in a rotating order',
  );
  console.log(
    "control-plane CPU: the launcher's own processes (Berth's server; JupyterHub's hub and proxy), not its sessions', from " +
      "the start request to ready, readiness polls included (Berth holds a poll until the tool is up; JupyterHub's start " +
      'request returns once the server is up, so it is hardly polled)',
  );
  console.log(`machine: ${cpus().length} cores`);
  console.log(backgroundLine(report.background));
  console.log('');
}
