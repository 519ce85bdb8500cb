import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.ts';
import { startServer } from '../server/compose.ts';
import { clientFor, integer } from './arguments.ts';
import { CliError } from './client.ts';
import { printTable } from './output.ts';
import { buildCommands } from './build-commands.ts';
import { computeEnvCommands } from './compute-env-commands.ts';
import { imageCommands } from './image-commands.ts';
import { registryCommands } from './registry-commands.ts';
import { studioConfigCommands } from './studio-config-commands.ts';
import { credentialCommands } from './credential-commands.ts';
import { workspaceCommands } from './workspace-commands.ts';
import { studioCommands } from './studio-commands.ts';
import { cloneCommands } from './clone-commands.ts';
import { ecrCommands } from './ecr-commands.ts';
import { mapCommand } from './map-commands.ts';
import { mcpCommand } from './mcp-command.ts';
import { doctorCommands } from './doctor-commands.ts';

const program = new Command('berth').description('Berth: interactive research Studios, their images and their registry').showHelpAfterError();


program
  .option('--url <url>', 'Berth to talk to (default $BERTH_URL or http://127.0.0.1:8080)')
  .option('--token <token>', 'API token (default $BERTH_TOKEN or <data>/admin-token)')
  .option('--data <dir>', 'data directory, for the admin token file (default $BERTH_DATA_DIR or ./berth-data)');

program
  .command('up')
  .description('run the all-in-one server: registry, API and everything else on one listener')
  .option('--port <port>', 'TCP port (default 8080)', integer)
  .option('--host <host>', 'address to bind (default 127.0.0.1)')
  .option('--config <file>', 'configuration file (default $BERTH_CONFIG or ./berth.yaml)')
  .action(async (options: { port?: number; host?: string; config?: string }, command: Command) => {
    const data = (command.optsWithGlobals() as { data?: string }).data;
    const config = await loadConfig({
      file: options.config,
      overrides: { dataDir: data, server: { port: options.port, host: options.host } },
      // The all-in-one server is ready to use: the admin's workspace may run studios (a file may say otherwise).
      defaults: { studios: { allowedWorkspaces: ['admin'] } },
    });
    const server = await startServer(config);
    if (server.bootstrap.generatedToken) {
      console.log(`Created user admin. Its API token (shown once, also in ${server.bootstrap.tokenFile}):\n  ${server.bootstrap.generatedToken}`);
    }
    console.log(`Berth is up at ${server.url} (data in ${config.dataDir}, ${server.database.kind} database)`);
    console.log(`  registry:  docker login ${server.url.replace(/^http:\/\//, '')} -u admin`);
    const stop = async (signal: string) => {
      console.log(`${signal}: shutting down`);
      await server.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  });

const users = program.command('users').description('users (system administrators only)');
users
  .command('list')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }, command: Command) => {
    const result = await clientFor(command).call<{ users: Array<{ name: string; isAdmin: boolean }> }>('GET', '/api/users');
    if (options.json) return console.log(JSON.stringify(result.users, null, 2));
    printTable(['NAME', 'ADMIN'], result.users.map((u) => [u.name, u.isAdmin ? 'yes' : '']));
  });
users
  .command('add <name>')
  .description('create a user and its personal workspace')
  .option('--admin', 'make the user a system administrator')
  .option('--json', 'print JSON')
  .action(async (name: string, options: { admin?: boolean; json?: boolean }, command: Command) => {
    const result = await clientFor(command).call('POST', '/api/users', { name, admin: options.admin ?? false });
    console.log(options.json ? JSON.stringify(result, null, 2) : `created user ${name} with workspace ${name}`);
  });

const tokens = program.command('tokens').description('API tokens');
tokens
  .command('create')
  .description('create an API token; the secret is printed once')
  .requiredOption('--name <name>', 'what the token is for')
  .option('--user <user>', 'owner (default: yourself; others need a system administrator)')
  .option('--scope <scope...>', 'narrow the token: registry:pull, registry:push, api, or * (default)')
  .option('--expires-in <seconds>', 'lifetime in seconds', integer)
  .option('--json', 'print JSON')
  .action(async (options: { name: string; user?: string; scope?: string[]; expiresIn?: number; json?: boolean }, command: Command) => {
    const client = clientFor(command);
    const user = options.user ?? (await client.call<{ user: { name: string } }>('GET', '/api/me')).user.name;
    const result = await client.call<{ secret: string }>('POST', `/api/users/${encodeURIComponent(user)}/tokens`, {
      name: options.name,
      scopes: options.scope,
      expiresInS: options.expiresIn,
    });
    console.log(options.json ? JSON.stringify(result, null, 2) : result.secret);
  });

const keys = program.command('keys').description('access key pairs for the ECR-compatible API (aws ecr --endpoint-url …/ecr)');
keys
  .command('create')
  .description('create a key pair acting as you in one workspace; the secret is printed once')
  .option('--workspace <slug>', 'the workspace (ECR "registry") the key addresses (default: your personal one)')
  .option('--json', 'print {"accessKeyId", "secretAccessKey"} as JSON')
  .action(async (options: { workspace?: string; json?: boolean }, command: Command) => {
    const pair = await clientFor(command).call<{ accessKeyId: string; secretAccessKey: string; workspace: string; registryId: string }>(
      'POST',
      '/api/access-keys',
      { workspace: options.workspace },
    );
    if (options.json) return console.log(JSON.stringify({ accessKeyId: pair.accessKeyId, secretAccessKey: pair.secretAccessKey }, null, 2));
    console.log(`access key for workspace ${pair.workspace} (registry id ${pair.registryId}); the secret is shown only now:`);
    console.log(`  AWS_ACCESS_KEY_ID=${pair.accessKeyId}`);
    console.log(`  AWS_SECRET_ACCESS_KEY=${pair.secretAccessKey}`);
  });
keys
  .command('list')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }, command: Command) => {
    const result = await clientFor(command).call<{ accessKeys: Array<{ accessKeyId: string; workspace: string; createdAt: number; lastUsedAt: number | null }> }>(
      'GET',
      '/api/access-keys',
    );
    if (options.json) return console.log(JSON.stringify(result.accessKeys, null, 2));
    const when = (ms: number | null) => (ms ? new Date(ms).toISOString() : '');
    printTable(['ACCESS KEY ID', 'WORKSPACE', 'CREATED', 'LAST USED'], result.accessKeys.map((k) => [k.accessKeyId, k.workspace, when(k.createdAt), when(k.lastUsedAt)]));
  });
keys
  .command('delete <accessKeyId>')
  .action(async (accessKeyId: string, _options: unknown, command: Command) => {
    await clientFor(command).call('DELETE', `/api/access-keys/${encodeURIComponent(accessKeyId)}`);
    console.log(`deleted ${accessKeyId}`);
  });

const workspaces = program.command('workspaces').description('workspaces and their members');
workspaces
  .command('list')
  .option('--json', 'print JSON')
  .action(async (options: { json?: boolean }, command: Command) => {
    const result = await clientFor(command).call<{ workspaces: Array<{ slug: string; role: string; registryId: string }> }>(
      'GET',
      '/api/workspaces',
    );
    if (options.json) return console.log(JSON.stringify(result.workspaces, null, 2));
    printTable(['WORKSPACE', 'ROLE', 'REGISTRY ID'], result.workspaces.map((w) => [w.slug, w.role, w.registryId]));
  });
workspaces
  .command('member <workspace> <user> <role>')
  .description('set a member role: view, launch, maintain, admin, owner, or none to remove')
  .action(async (workspace: string, user: string, role: string, _options: unknown, command: Command) => {
    const client = clientFor(command);
    const path = `/api/workspaces/${encodeURIComponent(workspace)}/members/${encodeURIComponent(user)}`;
    if (role === 'none') await client.call('DELETE', path);
    else await client.call('PUT', path, { role });
    console.log(role === 'none' ? `removed ${user} from ${workspace}` : `${user} is ${role} of ${workspace}`);
  });

registryCommands(program.command('registry').description('the OCI registry and its management'));
imageCommands(program.command('image').description('images in the registry'));
buildCommands(program.command('build').description('builds: Dockerfiles and conda environments become images'));
studioConfigCommands(program.command('studio-config').description('Studio repositories: .seqera/studio-config.yaml'));
workspaceCommands(program, workspaces);
credentialCommands(program.command('credentials').description('registry, AWS and GitHub credentials of a workspace (secrets from standard input)'));
studioCommands(program.command('studios').description('studios: define, start, stop, open and follow interactive sessions'));
doctorCommands(program.command('doctor').description('check a workspace\'s Studios setup (each problem with its fix); explain a pasted error'));
ecrCommands(program);
computeEnvCommands(program.command('compute-envs').description('compute environments: where studios run (local, docker, kubernetes)'));
cloneCommands(program);
mcpCommand(program);
mapCommand(program);

// bin/berth.js hands `berth agent` to the agent before this file loads: it passes the tool's command line on
// verbatim (`--entrypoint`, `--`) and must not load the control plane. Listed here for `berth --help`.
program.command('agent').description('run a Studio tool and its tunnel to Berth (berth agent --help)');
program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof CliError) {
    console.error(`berth: ${error.message}`);
    process.exit(2);
  }
  console.error(error);
  process.exit(1);
});
