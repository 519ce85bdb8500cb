import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';

interface ErrorBody {
  error: { code: string; message: string };
}
interface CredentialView {
  id: string;
  name: string;
  provider: string;
  keys: Record<string, string>;
  dateCreated: string;
  lastUpdated: string;
}

const secrets = {
  registryPassword: 'Reg1stry-Pa55word-7d2e41',
  awsSecretKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  githubToken: 'ghp_16C7e42F292c6912E7710c838347Ae178B4a',
  rotatedPassword: 'R0tated-Pa55word-93ab1c',
  legacySecret: 'legacy-upstream-s3cret-55e1',
};

describe('/api/credentials', () => {
  let berth: TestBerth;
  let dataDir: string;
  const token: Record<string, string> = {};
  /** Every answer the API gave, to check that none carries a secret. */
  const answers: string[] = [];
  const as = async <T = ErrorBody>(user: string, method: string, path: string, body?: unknown) => {
    const result = await berth.api<T>(method, path, body, user === 'admin' ? undefined : token[user]);
    answers.push(JSON.stringify(result.body ?? ''));
    return result;
  };
  const create = (user: string, workspace: string, credentials: unknown) => as<{ credentialsId: string }>(user, 'POST', `/api/credentials?workspaceId=${workspace}`, { credentials });

  before(async () => {
    // Its own data directory, kept after close, so that the database file can be read afterwards.
    dataDir = await mkdtemp(join(tmpdir(), 'berth-credentials-'));
    berth = await startBerth({ dataDir });
    for (const name of ['alice', 'mia', 'lou', 'vic', 'dave']) token[name] = await berth.user(name);
    assert.equal((await as('alice', 'POST', '/api/workspaces', { slug: 'lab' })).status, 201);
    for (const [user, role] of [['mia', 'maintain'], ['lou', 'launch'], ['vic', 'view']] as const) await berth.role('lab', user, role);
  });
  after(async () => {
    await berth?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('maintain and above add credentials of each provider; the API shows their non-secret keys only', async () => {
    const registry = await create('mia', 'lab', { name: 'ghcr', provider: 'container-reg', keys: { registry: 'ghcr.io', userName: 'mia', password: secrets.registryPassword } });
    assert.equal(registry.status, 201, JSON.stringify(registry.body));
    assert.match(registry.body.credentialsId, /^[0-9a-f-]{36}$/);
    assert.equal((await create('alice', 'lab', { name: 'aws', provider: 'aws', keys: { accessKey: 'AKIAIOSFODNN7EXAMPLE', secretKey: secrets.awsSecretKey } })).status, 201);
    assert.equal((await create('alice', 'lab', { name: 'role', provider: 'aws', keys: { assumeRoleArn: 'arn:aws:iam::123456789012:role/studios' } })).status, 201);
    assert.equal((await create('mia', 'lab', { name: 'github.com', provider: 'github', keys: { userName: 'mia', password: secrets.githubToken } })).status, 201);

    const listed = await as<{ credentials: CredentialView[] }>('vic', 'GET', '/api/credentials?workspaceId=lab');
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.credentials.map((c) => [c.name, c.provider, c.keys]),
      [
        ['aws', 'aws', { accessKey: 'AKIAIOSFODNN7EXAMPLE' }],
        ['ghcr', 'container-reg', { registry: 'ghcr.io', userName: 'mia' }],
        ['github.com', 'github', { userName: 'mia' }],
        ['role', 'aws', { assumeRoleArn: 'arn:aws:iam::123456789012:role/studios' }],
      ],
    );
    const shown = await as<{ credentials: CredentialView }>('vic', 'GET', `/api/credentials/${registry.body.credentialsId}?workspaceId=lab`);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.credentials.id, registry.body.credentialsId);
    assert.ok(!Number.isNaN(Date.parse(shown.body.credentials.dateCreated)) && !Number.isNaN(Date.parse(shown.body.credentials.lastUpdated)));
  });

  it('launch, view and non-members may not write; non-members may not read', async () => {
    const keys = { name: 'nope', provider: 'github', keys: { password: 'ghp_whatever' } };
    for (const user of ['lou', 'vic']) {
      const denied = await create(user, 'lab', keys);
      assert.equal(denied.status, 403, user);
      assert.match((denied.body as unknown as ErrorBody).error.message, /takes the maintain role or above/);
    }
    assert.equal((await create('dave', 'lab', keys)).status, 403);
    assert.equal((await as('dave', 'GET', '/api/credentials?workspaceId=lab')).status, 403);
    const ghcr = await idOf('ghcr');
    assert.equal((await as('dave', 'GET', `/api/credentials/${ghcr}`)).status, 404, 'a non-member learns nothing of an id');
    assert.equal((await as('dave', 'DELETE', `/api/credentials/${ghcr}`)).status, 404);
    assert.equal((await as('lou', 'PUT', `/api/credentials/${ghcr}`, { credentials: { keys: { registry: 'evil.example.org', userName: 'x' } } })).status, 403);
    assert.equal((await as('vic', 'DELETE', `/api/credentials/${ghcr}?workspaceId=lab`)).status, 403);
    const after = await as<{ credentials: CredentialView }>('vic', 'GET', `/api/credentials/${ghcr}`);
    assert.deepEqual(after.body.credentials.keys, { registry: 'ghcr.io', userName: 'mia' }, 'nothing changed');
  });

  it('without workspaceId it is the caller\'s personal workspace; workspaceId takes the id as well as the slug', async () => {
    assert.equal((await create('dave', '', { name: 'mine', provider: 'github', keys: { password: 'ghp_davestoken' } })).status, 201);
    const mine = await as<{ credentials: CredentialView[] }>('dave', 'GET', '/api/credentials');
    assert.deepEqual(mine.body.credentials.map((c) => c.name), ['mine']);
    const workspaces = await as<{ workspaces: Array<{ id: string; slug: string }> }>('vic', 'GET', '/api/workspaces');
    const labId = workspaces.body.workspaces.find((w) => w.slug === 'lab')!.id;
    const byId = await as<{ credentials: CredentialView[] }>('vic', 'GET', `/api/credentials?workspaceId=${labId}`);
    assert.equal(byId.body.credentials.length, 4);
    assert.equal((await as('vic', 'GET', `/api/credentials/${await idOf('ghcr')}?workspaceId=dave`)).status, 404, 'an id is looked up in the workspace named');
    assert.equal((await as('vic', 'GET', '/api/credentials?workspaceId=no-such-workspace')).status, 404);
  });

  it('bad input is refused naming the field, and changes nothing', async () => {
    const before = await as<{ credentials: CredentialView[] }>('mia', 'GET', '/api/credentials?workspaceId=lab');
    const bad: Array<[unknown, RegExp]> = [
      [{ name: 'x', provider: 'ftp', keys: {} }, /^credentials\.provider: /],
      [{ name: 'x', provider: 'container-reg', keys: { registry: 'ghcr.io', userName: 'a' } }, /^credentials\.keys\.password: /],
      [{ name: 'x', provider: 'container-reg', keys: { registry: 'not a host', userName: 'a', password: 'p' } }, /^credentials\.keys\.registry: /],
      [{ name: 'x', provider: 'aws', keys: { accessKey: 'AKIAIOSFODNN7EXAMPLE' } }, /^credentials\.keys\.secretKey: an access key needs its secret key/],
      [{ name: 'x', provider: 'aws', keys: {} }, /^credentials\.keys\.accessKey: give accessKey and secretKey, or assumeRoleArn/],
      [{ name: 'x', provider: 'github', keys: { password: 'p', token: 't' } }, /token/],
      [{ name: 'has space', provider: 'github', keys: { password: 'p' } }, /^credentials\.name: /],
    ];
    for (const [credentials, message] of bad) {
      const refused = await create('mia', 'lab', credentials);
      assert.equal(refused.status, 400, JSON.stringify(credentials));
      assert.match((refused.body as unknown as ErrorBody).error.message, message);
    }
    const taken = await create('mia', 'lab', { name: 'ghcr', provider: 'github', keys: { password: 'p' } });
    assert.equal(taken.status, 409);

    const ghcr = await idOf('ghcr');
    const badUpdate = await as('mia', 'PUT', `/api/credentials/${ghcr}`, { credentials: { keys: { registry: 'ghcr.io' } } });
    assert.equal(badUpdate.status, 400);
    assert.match(badUpdate.body.error.message, /^credentials\.keys\.userName: /);
    const rename = await as('mia', 'PUT', `/api/credentials/${ghcr}`, { credentials: { name: 'renamed', keys: { registry: 'ghcr.io', userName: 'mia' } } });
    assert.equal(rename.status, 400);
    assert.match(rename.body.error.message, /^credentials\.name: a credential keeps its name/);
    const reprovider = await as('mia', 'PUT', `/api/credentials/${ghcr}`, { credentials: { provider: 'github', keys: { password: 'x' } } });
    assert.equal(reprovider.status, 400);
    assert.deepEqual((await as<{ credentials: CredentialView[] }>('mia', 'GET', '/api/credentials?workspaceId=lab')).body, before.body);
  });

  it('an update replaces the non-secret keys and keeps secrets it was not given; delete removes', async () => {
    const created = await create('mia', 'lab', { name: 'quay', provider: 'container-reg', keys: { registry: 'quay.io', userName: 'one', password: 'first-password' } });
    const id = created.body.credentialsId;
    const updated = await as<{ credentials: CredentialView }>('mia', 'PUT', `/api/credentials/${id}?workspaceId=lab`, { credentials: { keys: { registry: 'quay.io', userName: 'two' } } });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.deepEqual(updated.body.credentials.keys, { registry: 'quay.io', userName: 'two' });
    const rotated = await as('alice', 'PUT', `/api/credentials/${id}`, { credentials: { keys: { registry: 'quay.io', userName: 'two', password: secrets.rotatedPassword } } });
    assert.equal(rotated.status, 200);
    assert.equal((await as('mia', 'DELETE', `/api/credentials/${id}?workspaceId=lab`)).status, 204);
    assert.equal((await as('mia', 'GET', `/api/credentials/${id}?workspaceId=lab`)).status, 404);
    assert.equal((await as('mia', 'DELETE', `/api/credentials/${id}?workspaceId=lab`)).status, 404);
  });

  it('the older by-name endpoint still works and its credentials are listed as container registry logins', async () => {
    const stored = await as('alice', 'POST', '/api/workspaces/lab/credentials', { name: 'ecr-pullthroughcache/up', username: 'mirror', secret: secrets.legacySecret });
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
    const listed = await as<{ credentials: CredentialView[] }>('vic', 'GET', '/api/credentials?workspaceId=lab');
    const legacy = listed.body.credentials.find((c) => c.name === 'ecr-pullthroughcache/up');
    assert.deepEqual([legacy?.provider, legacy?.keys], ['container-reg', { userName: 'mirror' }]);
    const old = await as<{ credentials: Array<{ name: string; kind: string; username: string | null }> }>('alice', 'GET', '/api/workspaces/lab/credentials');
    assert.deepEqual(
      old.body.credentials.filter((c) => c.name === 'ecr-pullthroughcache/up' || c.name === 'ghcr').map((c) => [c.name, c.kind, c.username]),
      [['ecr-pullthroughcache/up', 'container-registry', 'mirror'], ['ghcr', 'container-registry', 'mia']],
    );
  });

  it('no answer of the API carried a secret', () => {
    assert.ok(answers.length > 30, `${answers.length} answers seen`);
    for (const secret of Object.values(secrets)) {
      for (const form of encodings(secret)) assert.ok(!answers.some((answer) => answer.includes(form)), `an answer carried ${secret} (${form})`);
    }
  });

  it('the database file holds none of the secrets, in clear or base64, once Berth is closed', async () => {
    await berth.close({ keepData: true });
    const files = (await readdir(dataDir)).filter((name) => name.startsWith('berth.sqlite'));
    assert.ok(files.includes('berth.sqlite'), files.join());
    const bytes = Buffer.concat(await Promise.all(files.map((name) => readFile(join(dataDir, name)))));
    assert.ok(bytes.includes(Buffer.from('AKIAIOSFODNN7EXAMPLE')), 'the file is readable and holds the non-secret keys');
    for (const secret of Object.values(secrets)) {
      for (const form of encodings(secret)) assert.equal(bytes.includes(Buffer.from(form)), false, `the database holds ${secret} as ${form}`);
    }
  });

  async function idOf(name: string): Promise<string> {
    const listed = await as<{ credentials: CredentialView[] }>('alice', 'GET', '/api/credentials?workspaceId=lab');
    const found = listed.body.credentials.find((c) => c.name === name);
    assert.ok(found, `credentials ${name} exist`);
    return found.id;
  }
});

/** A secret as it is, and as base64 and base64url (whole, and aligned fragments that survive inside a longer encoding). */
function encodings(secret: string): string[] {
  const forms = new Set([secret]);
  for (let offset = 0; offset < 3; offset++) {
    const shifted = Buffer.concat([Buffer.alloc(offset), Buffer.from(secret)]);
    // Drop the characters that depend on the unknown bytes before and after the secret.
    const inner = (encoded: string) => encoded.slice(Math.ceil((offset * 4) / 3) + 1, -4);
    forms.add(inner(shifted.toString('base64')));
    forms.add(inner(shifted.toString('base64url')));
  }
  forms.add(Buffer.from(secret).toString('base64'));
  return [...forms].filter((form) => form.length >= 12);
}
