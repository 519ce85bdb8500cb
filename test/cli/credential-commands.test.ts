import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { runBerthCli } from '../support/berth-cli.ts';

describe('berth credentials … (secrets from standard input)', () => {
  let berth: TestBerth;
  const berthCli = (args: string[], input?: string) => runBerthCli(berth, args, { input });

  before(async () => {
    berth = await startBerth();
  });
  after(() => berth?.close());

  it('adds credentials of each provider with the secret on standard input, lists them without it, and deletes them', async () => {
    const token = 'ghp_CliSecretToken0123456789abcdef';
    const added = await berthCli(['credentials', 'add', '--name', 'github.com', '--provider', 'github', '--user', 'ada', '--password-stdin', '--json'], `${token}\n`);
    assert.equal(added.code, 0, added.stderr);
    const { credentialsId } = JSON.parse(added.stdout) as { credentialsId: string };
    const registry = await berthCli(['credentials', 'add', '--name', 'ghcr', '--provider', 'container-reg', '--registry', 'ghcr.io', '--user', 'ada', '--password-stdin'], 'registry-password');
    assert.equal(registry.code, 0, registry.stderr);
    assert.match(registry.stdout, /^added container-reg credentials ghcr \(/);
    const role = await berthCli(['credentials', 'add', '--name', 'aws', '--provider', 'aws', '--role-arn', 'arn:aws:iam::123456789012:role/x', '--workspace', 'admin']);
    assert.equal(role.code, 0, role.stderr);

    const table = await berthCli(['credentials', 'list']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+PROVIDER\s+KEYS/);
    assert.match(table.stdout, /^github\.com\s+github\s+userName=ada\s/m);
    assert.match(table.stdout, /^ghcr\s+container-reg\s+registry=ghcr\.io userName=ada\s/m);
    const listed = await berthCli(['credentials', 'list', '--json', '--workspace', 'admin']);
    const views = JSON.parse(listed.stdout) as Array<{ id: string; name: string }>;
    assert.deepEqual(views.map((v) => v.name), ['aws', 'ghcr', 'github.com']);
    assert.equal(views.find((v) => v.name === 'github.com')?.id, credentialsId);
    assert.ok(!table.stdout.includes(token) && !listed.stdout.includes(token) && !listed.stdout.includes('registry-password'));

    assert.equal((await berthCli(['credentials', 'delete', 'github.com'])).code, 0);
    assert.equal((await berthCli(['credentials', 'delete', views.find((v) => v.name === 'ghcr')!.id])).code, 0, 'by id too');
    assert.deepEqual((JSON.parse((await berthCli(['credentials', 'list', '--json'])).stdout) as Array<{ name: string }>).map((v) => v.name), ['aws']);
  });

  it('refuses to go on without the secret, and reports bad keys from the API', async () => {
    const missing = await berthCli(['credentials', 'add', '--name', 'x', '--provider', 'github']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /give the token on standard input with --password-stdin/);
    const empty = await berthCli(['credentials', 'add', '--name', 'x', '--provider', 'github', '--password-stdin'], '');
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /standard input is empty/);
    const badHost = await berthCli(['credentials', 'add', '--name', 'x', '--provider', 'container-reg', '--registry', 'no such host', '--user', 'u', '--password-stdin'], 'p');
    assert.equal(badHost.code, 2);
    assert.match(badHost.stderr, /credentials\.keys\.registry: /);
    assert.notEqual((await berthCli(['credentials', 'delete', 'unknown'])).code, 0);
  });
});
