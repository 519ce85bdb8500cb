import type { Command } from 'commander';
import { clientFor } from './arguments.ts';
import { CliError } from './client.ts';
import { printTable } from './output.ts';

interface OrganizationView {
  orgId: string;
  name: string;
}

interface ParticipantView {
  userName: string;
  role: string;
}

interface SettingsView {
  containerRepository: string | null;
  lifespanHours: number | null;
  privateStudioByDefault: boolean;
  nameStrategy: string | null;
}

const print = (json: boolean | undefined, value: unknown, text: () => void) => (json ? console.log(JSON.stringify(value, null, 2)) : text());
const path = (...parts: string[]) => parts.map(encodeURIComponent).join('/');

/** `default` puts a setting back to its default (null); anything else is the value. */
const orDefault = (value: string | undefined): string | null | undefined => (value === 'default' ? null : value);
const hours = (value: string | undefined): number | null | undefined => {
  const given = orDefault(value);
  if (typeof given !== 'string') return given;
  if (!/^\d+(\.\d+)?$/.test(given)) throw new CliError('--lifespan-hours: must be a number of hours, or default');
  return Number(given);
};

/**
 * `berth orgs …`, `berth members …`, and `berth workspaces add|settings …` (next to the `workspaces`
 * commands main.ts defines): organizations, their workspaces, members and Studios settings.
 */
export function workspaceCommands(program: Command, workspaces: Command): void {
  const orgs = program.command('orgs').description('organizations (system administrators add them)');
  orgs
    .command('list')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, c: Command) => {
      const { organizations } = await clientFor(c).call<{ organizations: OrganizationView[] }>('GET', '/api/orgs');
      print(o.json, organizations, () => printTable(['ORGANIZATION', 'ID'], organizations.map((org) => [org.name, org.orgId])));
    });
  orgs
    .command('add <name>')
    .option('--json', 'print JSON')
    .action(async (name: string, o: { json?: boolean }, c: Command) => {
      const { organization } = await clientFor(c).call<{ organization: OrganizationView }>('POST', '/api/orgs', { name });
      print(o.json, organization, () => console.log(`created organization ${organization.name} (${organization.orgId})`));
    });

  workspaces
    .command('add <slug>')
    .description('create a shared workspace, owned by you')
    .option('--org <organization>', 'the organization it belongs to (by name or id); you must lead one of its workspaces')
    .option('--json', 'print JSON')
    .action(async (slug: string, o: { org?: string; json?: boolean }, c: Command) => {
      const client = clientFor(c);
      const { workspace } = o.org
        ? await client.call<{ workspace: unknown }>('POST', `/api/orgs/${path(o.org)}/workspaces`, { name: slug })
        : await client.call<{ workspace: unknown }>('POST', '/api/workspaces', { slug });
      print(o.json, workspace, () => console.log(`created workspace ${slug}${o.org ? ` in ${o.org}` : ''}`));
    });

  const settings = workspaces.command('settings').description("a workspace's Studios settings");
  settings
    .command('show <workspace>')
    .option('--json', 'print JSON')
    .action(async (workspace: string, o: { json?: boolean }, c: Command) => {
      const result = await clientFor(c).call<{ settings: SettingsView }>('GET', `/api/workspaces/${path(workspace)}/settings/studios`);
      print(o.json, result.settings, () => printSettings(result.settings));
    });
  settings
    .command('set <workspace>')
    .description('change settings; "default" puts one back to its default')
    .option('--container-repository <repository>', 'where images built for its studios go: host/path or path')
    .option('--lifespan-hours <hours>', 'how long sessions live unless a studio says otherwise; 0 = no limit')
    .option('--private-by-default', 'new studios are private to their creator')
    .option('--no-private-by-default', 'new studios are reachable by the workspace (launch role and above)')
    .option('--name-strategy <strategy>', 'image naming for builds: none, tagPrefix or imageSuffix')
    .option('--json', 'print JSON')
    .action(async (workspace: string, o: { containerRepository?: string; lifespanHours?: string; privateByDefault?: boolean; nameStrategy?: string; json?: boolean }, c: Command) => {
      const change = {
        containerRepository: orDefault(o.containerRepository),
        lifespanHours: hours(o.lifespanHours),
        privateStudioByDefault: o.privateByDefault,
        nameStrategy: orDefault(o.nameStrategy),
      };
      const result = await clientFor(c).call<{ settings: SettingsView }>('PUT', `/api/workspaces/${path(workspace)}/settings/studios`, change);
      print(o.json, result.settings, () => printSettings(result.settings));
    });

  const members = program.command('members').description('members of a workspace and their roles (view, launch, maintain, admin, owner)');
  members
    .command('list <workspace>')
    .option('--json', 'print JSON')
    .action(async (workspace: string, o: { json?: boolean }, c: Command) => {
      const { participants } = await clientFor(c).call<{ participants: ParticipantView[] }>('GET', `/api/workspaces/${path(workspace)}/participants`);
      print(o.json, participants, () => printTable(['USER', 'ROLE'], participants.map((p) => [p.userName, p.role])));
    });
  members
    .command('set <workspace> <user> <role>')
    .description('give a user a role: view, launch, maintain, admin or owner')
    .action(async (workspace: string, user: string, role: string, _o: unknown, c: Command) => {
      await clientFor(c).call('PUT', `/api/workspaces/${path(workspace, 'participants', user)}`, { role });
      console.log(`${user} is ${role} of ${workspace}`);
    });
  members
    .command('remove <workspace> <user>')
    .action(async (workspace: string, user: string, _o: unknown, c: Command) => {
      await clientFor(c).call('DELETE', `/api/workspaces/${path(workspace, 'participants', user)}`);
      console.log(`removed ${user} from ${workspace}`);
    });
}

function printSettings(settings: SettingsView): void {
  printTable(
    ['SETTING', 'VALUE'],
    [
      ['containerRepository', settings.containerRepository ?? ''],
      ['lifespanHours', settings.lifespanHours === null ? '' : String(settings.lifespanHours)],
      ['privateStudioByDefault', String(settings.privateStudioByDefault)],
      ['nameStrategy', settings.nameStrategy ?? '(builder default)'],
    ],
  );
}
