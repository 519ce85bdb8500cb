import { readFileSync } from 'node:fs';
import type { StudioTemplate } from '../../studios/templates/templates.ts';
import { checkOf, type DoctorCheck } from './doctor-check.ts';
import type { DoctorDeps } from './doctor-deps.ts';

/**
 * The session agent this Berth ships: package.json's version, as `berth agent --version` answers from the
 * source tree (src/connect/agent/agent-main.ts; its bundle carries the same value).
 */
export function shippedAgentVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * Whether this Berth speaks to an agent of `version`: the same major version (for 0.x the same minor, as
 * semver promises nothing across them), and not newer than the agent Berth ships.
 */
export function agentVersionSupported(version: string, shipped: string): boolean {
  const parts = (text: string) => text.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : NaN));
  const [major, minor = 0, patch = 0] = parts(version);
  const [shippedMajor, shippedMinor = 0, shippedPatch = 0] = parts(shipped);
  if ([major, minor, patch].some(Number.isNaN) || major === undefined || shippedMajor === undefined) return false;
  if (major !== shippedMajor || (major === 0 && minor !== shippedMinor)) return false;
  return minor < shippedMinor || (minor === shippedMinor && patch <= shippedPatch);
}

/** The agent version of a `<tool_version>-<agent_version>` tag; undefined for a tag without one. */
export function agentVersionOf(tag: string): string | undefined {
  const dash = tag.indexOf('-');
  return dash < 0 ? undefined : tag.slice(dash + 1);
}

/** Each template's images carry an agent this Berth supports: the newest one must (error), older ones should (warning). */
export function agentVersionChecks(deps: DoctorDeps): DoctorCheck[] {
  return deps.templates().map((template) => templateCheck(template, deps.agentVersion));
}

function templateCheck(template: StudioTemplate, shipped: string): DoctorCheck {
  const tagged = template.versions.map((version) => ({ version, agent: agentVersionOf(version.version) })).filter((entry) => entry.agent !== undefined);
  const newest = template.versions[0];
  const unsupported = tagged.filter((entry) => !agentVersionSupported(entry.agent!, shipped));
  const newestBad = newest !== undefined && unsupported.some((entry) => entry.version === newest);
  const check = checkOf(`agent-version:${template.key}`, `Template ${template.key}: session agent version`, newestBad ? 'error' : 'warning');
  if (tagged.length === 0) return check.skip(`the tags of template ${template.key} (${template.versions.map((v) => v.version).join(', ')}) do not say their agent version (<tool>-<agent>)`);
  if (unsupported.length === 0) return check.pass(`agent ${[...new Set(tagged.map((entry) => entry.agent))].join(', ')} in ${template.repository}; this Berth ships agent ${shipped}`);
  const images = unsupported.map((entry) => `${entry.version.image} (agent ${entry.agent})`).join(', ');
  return check.problem(
    `${images}: this Berth ships agent ${shipped} and supports ${supportedRange(shipped)}`,
    `publish ${template.repository} with the agent ${shipped} and list it (studios.templates.${template.key}.versions: ["<tool version>-${shipped}"]), or take the old tags out of the list`,
  );
}

function supportedRange(shipped: string): string {
  const [major = '0', minor = '0'] = shipped.split('.');
  return major === '0' ? `agents ${major}.${minor}.x up to ${shipped}` : `agents ${major}.x up to ${shipped}`;
}
