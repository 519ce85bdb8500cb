import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { clientFor } from './arguments.ts';
import { CliError, type ApiClient } from './client.ts';
import { printTable } from './output.ts';

interface CredentialView {
  id: string;
  name: string;
  provider: string;
  keys: Record<string, string>;
  dateCreated: string;
  lastUpdated: string;
}

interface AddOptions {
  name: string;
  provider: 'container-reg' | 'aws' | 'github';
  registry?: string;
  user?: string;
  accessKey?: string;
  roleArn?: string;
  passwordStdin?: boolean;
  workspace?: string;
  json?: boolean;
}

const query = (workspace: string | undefined) => (workspace ? `?workspaceId=${encodeURIComponent(workspace)}` : '');

/**
 * `berth credentials list|add|delete`: a workspace's registry, AWS and GitHub credentials. Secrets are
 * read from standard input (`--password-stdin`), never from the command line, and never printed.
 */
export function credentialCommands(credentials: Command): void {
  const ws = (c: Command) => c.option('--workspace <workspace>', 'the workspace, by slug or id (default: your personal one)');

  ws(credentials.command('list'))
    .option('--json', 'print JSON')
    .action(async (o: { workspace?: string; json?: boolean }, c: Command) => {
      const { credentials: list } = await clientFor(c).call<{ credentials: CredentialView[] }>('GET', `/api/credentials${query(o.workspace)}`);
      if (o.json) return console.log(JSON.stringify(list, null, 2));
      const keys = (view: CredentialView) => Object.entries(view.keys).map(([key, value]) => `${key}=${value}`).join(' ');
      printTable(['NAME', 'PROVIDER', 'KEYS', 'ID', 'UPDATED'], list.map((view) => [view.name, view.provider, keys(view), view.id, view.lastUpdated]));
    });

  ws(credentials.command('add'))
    .description('add a credential; its secret (password, token or AWS secret key) comes from standard input')
    .requiredOption('--name <name>', 'how compute environments, builds and cache rules refer to it (git credentials: the host, e.g. github.com)')
    .addOption(new Option('--provider <provider>', 'what it logs in to').choices(['container-reg', 'aws', 'github']).makeOptionMandatory())
    .option('--registry <host>', 'container-reg: the registry host, e.g. ghcr.io')
    .option('--user <name>', 'container-reg, github: the user name')
    .option('--access-key <id>', 'aws: the access key id (its secret key from standard input)')
    .option('--role-arn <arn>', 'aws: a role to assume')
    .option('--password-stdin', 'read the secret from standard input')
    .option('--json', 'print JSON')
    .action(async (o: AddOptions, c: Command) => {
      const secret = o.passwordStdin ? readSecret() : undefined;
      const body = { credentials: { name: o.name, provider: o.provider, keys: keysOf(o, secret) } };
      const { credentialsId } = await clientFor(c).call<{ credentialsId: string }>('POST', `/api/credentials${query(o.workspace)}`, body);
      console.log(o.json ? JSON.stringify({ credentialsId }, null, 2) : `added ${o.provider} credentials ${o.name} (${credentialsId})`);
    });

  ws(credentials.command('delete <nameOrId>')).action(async (nameOrId: string, o: { workspace?: string }, c: Command) => {
    const client = clientFor(c);
    const id = await idOf(client, nameOrId, o.workspace);
    await client.call('DELETE', `/api/credentials/${encodeURIComponent(id)}${query(o.workspace)}`);
    console.log(`deleted credentials ${nameOrId}`);
  });
}

/** The provider's keys from the options; a provider that needs a secret refuses to go on without one. */
function keysOf(o: AddOptions, secret: string | undefined): Record<string, string | undefined> {
  const needSecret = (what: string) => {
    if (secret === undefined) throw new CliError(`give the ${what} on standard input with --password-stdin`);
    return secret;
  };
  switch (o.provider) {
    case 'container-reg':
      return { registry: o.registry, userName: o.user, password: needSecret('password') };
    case 'github':
      return { userName: o.user, password: needSecret('token') };
    case 'aws':
      return { accessKey: o.accessKey, secretKey: o.accessKey ? needSecret('secret key') : undefined, assumeRoleArn: o.roleArn };
  }
}

/** Standard input without its final line break (as `echo "$TOKEN" | …` leaves one). */
function readSecret(): string {
  const secret = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  if (!secret) throw new CliError('standard input is empty: pipe the secret in, e.g. printf %s "$TOKEN" | berth credentials add …');
  return secret;
}

async function idOf(client: ApiClient, nameOrId: string, workspace: string | undefined): Promise<string> {
  const { credentials } = await client.call<{ credentials: CredentialView[] }>('GET', `/api/credentials${query(workspace)}`);
  const found = credentials.find((view) => view.name === nameOrId) ?? credentials.find((view) => view.id === nameOrId);
  if (!found) throw new CliError(`no credentials named ${nameOrId}${workspace ? ` in ${workspace}` : ''}`);
  return found.id;
}
