import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerStorage } from '../../test/support/containers.ts';
import type { BenchRegistry } from '../support/registries.ts';

/** Berth's admin login (only Berth has one; the peers here are local tools). */
export function authorization(berth: BenchRegistry): string {
  const value = berth.adminAuthorization();
  if (!value) throw new Error(`${berth.label} has no admin login`);
  return value;
}

export interface ContainerRequestBody {
  containerFile: string;
  buildRepository: string;
}

/** A Dockerfile that cannot hit any cache: its RUN writes a fresh nonce. */
function freshDockerfile(base: string): string {
  return `FROM ${base}\nRUN echo ${randomBytes(8).toString('hex')} > /nonce.txt\n`;
}

/** POSTs a Wave container request; resolves with the answer. */
export async function submit(berth: BenchRegistry, body: ContainerRequestBody): Promise<{ buildId: string; cached: boolean }> {
  const response = await fetch(`http://${berth.host}/v1alpha2/container`, {
    method: 'POST',
    headers: { Authorization: authorization(berth), 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as { buildId: string; cached: boolean; message?: string };
  if (!response.ok) throw new Error(`Berth answered ${response.status}: ${answer.message}`);
  return answer;
}

/** One build through Berth, from the request until its log stream ends (the build has been pushed). */
export async function buildThroughBerth(berth: BenchRegistry, base: string, body?: ContainerRequestBody): Promise<void> {
  const request = body ?? { containerFile: Buffer.from(freshDockerfile(base)).toString('base64'), buildRepository: `${berth.host}/admin/bench` };
  const { buildId } = await submit(berth, request);
  const log = await fetch(`http://${berth.host}/api/builds/${buildId}/logs?follow=1`, { headers: { Authorization: authorization(berth), Accept: 'text/event-stream' } });
  const text = await log.text();
  if (!text.includes('"status":"succeeded"')) throw new Error(`build ${buildId} did not succeed:\n${text.slice(-2000)}`);
}

/** The same build by hand: what Berth's buildah executor runs, without Berth. */
export async function buildByHand(berth: BenchRegistry, storage: ContainerStorage, token: string, base: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'Dockerfile'), freshDockerfile(base));
  const target = `${berth.host}/admin/by-hand:${randomBytes(4).toString('hex')}`;
  await storage.buildah(['bud', '--isolation=chroot', '--pull=always', '--tls-verify=false', '--creds', `admin:${token}`, '-q', '-t', target, dir]);
  await storage.buildah(['push', '--tls-verify=false', '--creds', `admin:${token}`, target]);
  await storage.buildah(['rmi', target]);
}
