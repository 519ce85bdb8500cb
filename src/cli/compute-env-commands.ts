import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { clientFor } from './arguments.ts';
import { CliError, type ApiClient } from './client.ts';
import { printTable } from './output.ts';

/** A compute environment as /api/compute-envs answers it (the fields the CLI reads). */
interface ComputeEnvView {
  id: string;
  name: string;
  platform: string;
  config: Record<string, unknown>;
  credentialsName: string | null;
  status: 'AVAILABLE' | 'INVALID';
  message: string | null;
  lastChecked: string | null;
}

interface AddOptions {
  platform: string;
  name: string;
  workDir?: string;
  socket?: string;
  network?: string;
  server?: string;
  namespace?: string;
  agentImage?: string;
  storageClass?: string;
  caCert?: string;
  insecure?: boolean;
  workspaceSize?: string;
  credential?: string;
}

type Options = { workspace?: string; json?: boolean };

/** `berth compute-envs list|add|delete|check`: where a workspace's studios run. */
export function computeEnvCommands(computeEnvs: Command): void {
  const ws = (c: Command) => c.option('--workspace <workspace>', 'the workspace, by slug or id (default: your personal one)').option('--json', 'print JSON');

  ws(computeEnvs.command('list'))
    .description("list the workspace's compute environments and their status")
    .action(async (o: Options, c: Command) => {
      const { computeEnvs: envs } = await clientFor(c).call<{ computeEnvs: ComputeEnvView[] }>('GET', `/api/compute-envs${workspaceQuery(o.workspace)}`);
      if (o.json) return console.log(JSON.stringify(envs, null, 2));
      printTable(['NAME', 'ID', 'PLATFORM', 'STATUS', 'MESSAGE'], envs.map((e) => [e.name, e.id, e.platform, e.status, e.message ?? '']));
    });

  ws(computeEnvs.command('add'))
    .description('add a compute environment; it is checked at once')
    .requiredOption('--platform <platform>', 'local, docker or kubernetes')
    .requiredOption('--name <name>', 'its name in the workspace')
    .option('--work-dir <dir>', "local: where sessions' files go (default: in the data directory)")
    .option('--socket <path>', 'docker: the engine API socket (default /var/run/docker.sock)')
    .option('--network <network>', 'docker: the containers\' network (default host)')
    .option('--server <url>', 'kubernetes: the cluster API server URL')
    .option('--namespace <namespace>', 'kubernetes: the namespace of session pods (default default)')
    .option('--agent-image <image>', 'kubernetes: the image that carries the session agent')
    .option('--storage-class <class>', 'kubernetes: storage class of workspace volumes')
    .option('--workspace-size <quantity>', 'kubernetes: size of workspace volumes, e.g. 10Gi')
    .option('--ca-cert <file>', "kubernetes: the cluster's CA certificate (PEM file)")
    .option('--insecure', 'kubernetes: do not verify the server certificate (test clusters only)')
    .option('--credential <name>', 'credential by name or id: the cluster token (kubernetes) or a registry login (docker)')
    .action(async (o: Options & AddOptions, c: Command) => {
      const client = clientFor(c);
      const computeEnv = {
        name: o.name,
        platform: o.platform,
        config: configOf(o),
        credentialsId: o.credential === undefined ? undefined : await credentialId(client, o.workspace, o.credential),
      };
      const created = await client.call<{ computeEnvId: string; computeEnv: ComputeEnvView }>('POST', `/api/compute-envs${workspaceQuery(o.workspace)}`, { computeEnv });
      if (o.json) return console.log(JSON.stringify(created.computeEnv, null, 2));
      console.log(`created compute environment ${o.name} (${created.computeEnvId}): ${describeStatus(created.computeEnv)}`);
    });

  ws(computeEnvs.command('delete <nameOrId>'))
    .description('delete a compute environment no running studio uses')
    .action(async (ref: string, o: Options, c: Command) => {
      const client = clientFor(c);
      const env = await findEnv(client, o.workspace, ref);
      await client.call('DELETE', `/api/compute-envs/${encodeURIComponent(env.id)}${workspaceQuery(o.workspace)}`);
      console.log(`deleted compute environment ${env.name}`);
    });

  ws(computeEnvs.command('check <nameOrId>'))
    .description('check a compute environment now; exits 1 when it is INVALID')
    .action(async (ref: string, o: Options, c: Command) => {
      const client = clientFor(c);
      const env = await findEnv(client, o.workspace, ref);
      const { computeEnv: checked } = await client.call<{ computeEnv: ComputeEnvView }>('POST', `/api/compute-envs/${encodeURIComponent(env.id)}/check${workspaceQuery(o.workspace)}`);
      console.log(o.json ? JSON.stringify(checked, null, 2) : `${checked.name}: ${describeStatus(checked)}`);
      if (checked.status !== 'AVAILABLE') process.exitCode = 1;
    });
}

/** The platform's settings from the options given; the server refuses settings the platform does not have. */
function configOf(o: AddOptions): Record<string, unknown> {
  const config: Record<string, unknown> = {
    workDir: o.workDir,
    socket: o.socket,
    network: o.network,
    server: o.server,
    namespace: o.namespace,
    agentImage: o.agentImage,
    storageClass: o.storageClass,
    workspaceSize: o.workspaceSize,
    caCert: o.caCert === undefined ? undefined : readCertificate(o.caCert),
    insecure: o.insecure,
  };
  return Object.fromEntries(Object.entries(config).filter(([, value]) => value !== undefined));
}

function readCertificate(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read --ca-cert ${file}: ${(error as Error).message}`);
  }
}

function describeStatus(env: Pick<ComputeEnvView, 'status' | 'message'>): string {
  return env.status === 'AVAILABLE' ? 'AVAILABLE' : `INVALID: ${env.message ?? 'no reason given'}`;
}

function workspaceQuery(workspace: string | undefined): string {
  return workspace ? `?workspaceId=${encodeURIComponent(workspace)}` : '';
}

async function findEnv(client: ApiClient, workspace: string | undefined, ref: string): Promise<ComputeEnvView> {
  const { computeEnvs: envs } = await client.call<{ computeEnvs: ComputeEnvView[] }>('GET', `/api/compute-envs${workspaceQuery(workspace)}`);
  const env = envs.find((e) => e.id === ref) ?? envs.find((e) => e.name === ref);
  if (!env) throw new CliError(`no compute environment "${ref}" in ${workspace ? `workspace ${workspace}` : 'your workspace'} (berth compute-envs list shows them)`);
  return env;
}

async function credentialId(client: ApiClient, workspace: string | undefined, ref: string): Promise<string> {
  const { credentials } = await client.call<{ credentials: Array<{ id: string; name: string }> }>('GET', `/api/credentials${workspaceQuery(workspace)}`);
  const credential = credentials.find((k) => k.id === ref) ?? credentials.find((k) => k.name === ref);
  if (!credential) throw new CliError(`no credential "${ref}" in ${workspace ? `workspace ${workspace}` : 'your workspace'}`);
  return credential.id;
}
