import type { ECRClient } from '@aws-sdk/client-ecr';
import { awsEcrClient, berthEcrClient } from '../../../src/toolbox/ecr/ecr-clients.ts';
import type { ProgressEvent, ToolboxContext } from '../../../src/toolbox/toolbox-operation.ts';
import type { AwsKey } from '../../support/aws.ts';
import type { TestBerth } from '../../support/berth.ts';

/** A toolbox context as a face would build it; `events` collects what operations reported. */
export interface TestContext extends ToolboxContext {
  events: ProgressEvent[];
}

function contextWith(ecrClient: ToolboxContext['ecrClient']): TestContext {
  const events: ProgressEvent[] = [];
  return { registryLogin: async () => undefined, ecrClient, progress: (event) => events.push(event), localFiles: true, events };
}

/** Berth's ECR API as the token's user, through the API-token client (any workspace the target names). */
export function tokenContext(berth: TestBerth, token: string): TestContext {
  return contextWith((target) => berthEcrClient({ url: berth.url, token, workspace: target.workspace }));
}

/**
 * Berth's ECR API through the stock SDK signing with an access key (bound to `keyWorkspace`); other
 * workspaces, which a key cannot address by name, through the API-token client.
 */
export function keyContext(berth: TestBerth, key: AwsKey, keyWorkspace: string, token: string): TestContext {
  return contextWith((target): ECRClient =>
    !target.workspace || target.workspace === keyWorkspace
      ? awsEcrClient({ region: 'eu-west-2', endpoint: `${berth.url}/ecr`, credentials: key })
      : berthEcrClient({ url: berth.url, token, workspace: target.workspace }),
  );
}

/** An access key of the token's user for one workspace, as `berth keys create --workspace` makes it. */
export async function createKey(berth: TestBerth, workspace: string, token = berth.adminToken): Promise<AwsKey> {
  const created = await berth.api<AwsKey>('POST', '/api/access-keys', { workspace }, token);
  if (created.status !== 201) throw new Error(`creating an access key: ${JSON.stringify(created.body)}`);
  return { accessKeyId: created.body.accessKeyId, secretAccessKey: created.body.secretAccessKey };
}

export async function registryIdOf(berth: TestBerth, workspace: string, token = berth.adminToken): Promise<string> {
  const listed = await berth.api<{ workspaces: Array<{ slug: string; registryId: string }> }>('GET', '/api/workspaces', undefined, token);
  const found = listed.body.workspaces.find((w) => w.slug === workspace);
  if (!found) throw new Error(`no workspace ${workspace} among ${JSON.stringify(listed.body)}`);
  return found.registryId;
}
