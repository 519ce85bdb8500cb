import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { agentVersionChecks, agentVersionSupported, shippedAgentVersion } from '../../../src/toolbox/doctor/agent-version-checks.ts';
import { computeChecks } from '../../../src/toolbox/doctor/compute-checks.ts';
import type { DoctorComputeEnv, DoctorDeps, DoctorOptions } from '../../../src/toolbox/doctor/doctor-deps.ts';
import { githubCredentialChecks } from '../../../src/toolbox/doctor/git-checks.ts';
import { lookupHost, probeTls } from '../../../src/toolbox/doctor/network-probes.ts';
import { parsePolicy } from '../../../src/registry/policy/iam-policy.ts';
import { containerRepositoryCheck, pullAccessChecks, regionCheck, type ContainerRepositoryFacts } from '../../../src/toolbox/doctor/repository-checks.ts';
import { studioDomainChecks } from '../../../src/toolbox/doctor/studio-domain-checks.ts';
import { TemplateCatalog } from '../../../src/studios/templates/templates.ts';
import { FakeKubernetes } from '../../support/fake-kubernetes.ts';

/** Deps with only what a check reads; anything else it touches fails the test. */
function depsWith(parts: Partial<DoctorDeps>): DoctorDeps {
  return new Proxy(parts as DoctorDeps, {
    get(target, key) {
      if (key in target) return target[key as keyof DoctorDeps];
      throw new Error(`the check read deps.${String(key)}, which this test does not give`);
    },
  });
}

const workspace = { id: 'ws-1', slug: 'lab', registryId: '111111111111' };
const options: DoctorOptions = { workspace, caller: { userId: 'u1', isAdmin: false, mayView: async () => true } };
const env = (name: string, platform: DoctorComputeEnv['platform'], region?: string): DoctorComputeEnv => ({ id: `ce_${name}`, name, platform, status: 'AVAILABLE', statusReason: null, credentialName: null, ...(region ? { region } : {}) });

describe('doctor checks', () => {
  it('agent versions: same major (same minor for 0.x), not newer than the shipped agent', () => {
    assert.equal(shippedAgentVersion(), '0.1.0');
    assert.equal(agentVersionSupported('0.1.0', '0.1.0'), true);
    assert.equal(agentVersionSupported('0.1.0', '0.1.3'), true);
    assert.equal(agentVersionSupported('0.1.4', '0.1.3'), false, 'newer than this Berth');
    assert.equal(agentVersionSupported('0.0.9', '0.1.0'), false, 'another 0.x minor');
    assert.equal(agentVersionSupported('1.2.0', '1.4.1'), true);
    assert.equal(agentVersionSupported('2.0.0', '1.4.1'), false);
    assert.equal(agentVersionSupported('banana', '1.4.1'), false);
  });

  it('a template whose newest image carries an unsupported agent is an error; only older ones, a warning', () => {
    const catalog = new TemplateCatalog([
      {
        source: 'test',
        templates: {
          stale: { repository: 'cr.example.org/stale', tool: 'web', versions: ['1.0-0.0.3', '1.1-0.0.4'] },
          mixed: { repository: 'cr.example.org/mixed', tool: 'web', versions: ['1.0-0.0.3', '1.1-0.1.0'] },
          pinned: { repository: 'cr.example.org/pinned:latest', tool: 'web' },
        },
      },
    ]);
    const checks = agentVersionChecks(depsWith({ templates: () => catalog.all(), agentVersion: '0.1.0' }));
    const of = (key: string) => checks.find((check) => check.id === `agent-version:${key}`)!;
    assert.equal(of('jupyter').status, 'pass');
    assert.deepEqual([of('stale').level, of('stale').status], ['error', 'fail']);
    assert.match(of('stale').message, /cr\.example\.org\/stale:1\.1-0\.0\.4 \(agent 0\.0\.4\)/);
    assert.match(of('stale').fix!, /studios\.templates\.stale\.versions: \["<tool version>-0\.1\.0"\]/);
    assert.deepEqual([of('mixed').level, of('mixed').status], ['warning', 'warn']);
    assert.equal(of('pinned').status, 'skip');
  });

  it('no container repository: the freeze-mode message, with the setting to make', async () => {
    const deps = depsWith({ containerRepository: async () => null, ownRegistryHosts: () => ['berth.example.org'] });
    const { check, facts } = await containerRepositoryCheck(deps, workspace);
    assert.equal(facts, undefined);
    assert.equal(check.status, 'fail');
    assert.match(check.message, /^Attribute `buildRepository` must be specified when using freeze mode/);
    assert.equal(check.fix, 'berth workspaces settings set lab --container-repository berth.example.org/lab/studios');
  });

  it('a container repository in Berth without a workspace component is refused', async () => {
    const deps = depsWith({ containerRepository: async () => 'berth.example.org/studios', ownRegistryHosts: () => ['berth.example.org'] });
    const { check } = await containerRepositoryCheck(deps, workspace);
    assert.equal(check.status, 'fail');
    assert.match(check.message, /needs a workspace component/);
  });

  it('regions: Amazon ECR by host, compared with the environments that have one', async () => {
    const deps = depsWith({ containerRepository: async () => '123456789012.dkr.ecr.us-east-1.amazonaws.com/studios', ownRegistryHosts: () => ['berth.example.org'] });
    const facts = (await containerRepositoryCheck(deps, workspace)).facts as ContainerRepositoryFacts;
    assert.equal(facts.region, 'us-east-1');
    assert.equal(regionCheck(facts, [env('eks', 'kubernetes', 'us-east-1'), env('box', 'docker')]).status, 'pass');
    const far = regionCheck(facts, [env('eks', 'kubernetes', 'eu-west-2')]);
    assert.deepEqual([far.level, far.status], ['warning', 'warn']);
    assert.match(far.message, /us-east-1 but eks is in eu-west-2/);
    assert.equal(regionCheck(facts, [env('box', 'docker')]).status, 'skip');
    assert.equal(regionCheck(undefined, []).status, 'skip');
  });

  it('a local environment runs only templates with a host command; only admins are told to add a local one', () => {
    const catalog = new TemplateCatalog([]);
    const deps = depsWith({ templates: () => catalog.all() });
    const studio = (name: string, definition: { templateKey?: string; image?: string; repository?: string }) => ({
      sessionId: `s-${name}`,
      name,
      userId: 'u1',
      computeEnvId: null,
      definition: { templateKey: definition.templateKey ?? null, image: definition.image ?? null, remoteConfig: definition.repository ? { repository: definition.repository, revision: null, credentialsId: null } : null, isPrivate: false },
    });
    const checks = computeChecks(deps, options, [env('local', 'local')], [studio('nb', { templateKey: 'jupyter' }), studio('custom', { image: 'ghcr.io/acme/tool:1' }), studio('repo', { repository: 'https://github.com/acme/x' })]);
    const of = (id: string) => checks.find((check) => check.id === id)!;
    assert.equal(of('studio-compute:nb').status, 'pass');
    assert.equal(of('studio-compute:custom').status, 'fail');
    assert.match(of('studio-compute:repo').message, /its image is built from a repository/);

    const none = computeChecks(deps, options, [], []).find((check) => check.id === 'compute-available')!;
    assert.equal(none.status, 'fail');
    assert.doesNotMatch(none.fix!.split('\n')[0]!, /--platform local/);
    const asAdmin = computeChecks(deps, { ...options, caller: { ...options.caller, isAdmin: true } }, [], []).find((check) => check.id === 'compute-available')!;
    assert.match(asAdmin.fix!, /--platform local/);
    const invalid = computeChecks(deps, options, [{ ...env('box', 'docker'), status: 'INVALID', statusReason: 'Docker daemon unreachable' }], []);
    assert.equal(invalid.find((check) => check.id === 'compute-available')!.status, 'skip', 'reported once, on the environment');
    assert.equal(invalid.find((check) => check.id === 'compute-env:box')!.status, 'fail');
  });

  it('github.com studios: a named credential that is missing (or not named after the host) fails the clone', async () => {
    const studio = (name: string, credentialsId: string | null) => ({
      sessionId: `s-${name}`,
      name,
      userId: 'u1',
      computeEnvId: null,
      definition: { templateKey: null, image: null, remoteConfig: { repository: 'https://github.com/acme/private', revision: null, credentialsId }, isPrivate: false },
    });
    const deps = depsWith({ credentials: async () => [] });
    const checks = await githubCredentialChecks(deps, options, [studio('a', 'github.com'), studio('b', 'my-token'), studio('c', null)]);
    assert.deepEqual(checks.map((check) => [check.id, check.status]), [['github-credential-missing', 'fail'], ['github-credential', 'warn']]);
    assert.match(checks[0]!.message, /studios a, b name credentials \(github\.com, my-token\)/);
    assert.match(checks[0]!.fix!, /berth credentials add --workspace lab --name github\.com --provider github/);
    assert.match(checks[0]!.fix!, /PUT \/api\/studios\/s-b\?workspaceId=lab .*"credentialsId": "github\.com"/);
    assert.doesNotMatch(checks[1]!.fix!, /credentials add/, 'the credential to add is said once');
    assert.match(checks[1]!.fix!, /PUT \/api\/studios\/s-c/);
  });

  it("another workspace's repository: a Deny wins; the fix keeps the current policy for those who may read it", async () => {
    const team = { id: 'ws-team', slug: 'team', registryId: '222222222222' };
    const other = { Sid: 'Others', Effect: 'Allow', Principal: { AWS: '333333333333' }, Action: ['ecr:BatchGetImage'] };
    const deps = (policy: unknown) =>
      depsWith({
        findWorkspace: async (slug) => (slug === 'team' ? team : undefined),
        repository: async () => ({ isPublic: false, policyText: JSON.stringify(policy) }),
        policyDocument: (text, kind) => parsePolicy(text, kind),
        registryRegion: 'eu-west-2',
        ecrEndpoint: () => 'https://berth.example.org/ecr',
      });
    const facts: ContainerRepositoryFacts = { uri: 'berth.example.org/team/studios', host: 'berth.example.org', own: { workspaceSlug: 'team', path: 'studios' }, region: 'eu-west-2' };
    const deny = { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${workspace.registryId}:root` }, Action: 'ecr:*' }] };
    const [denied] = await pullAccessChecks(deps(deny), options, facts, []);
    assert.equal(denied!.status, 'fail');
    assert.match(denied!.message, /denies pulls to workspace lab/);

    const [merged] = await pullAccessChecks(deps({ Version: '2012-10-17', Statement: [other] }), options, facts, []);
    assert.equal(merged!.status, 'fail');
    assert.match(merged!.fix!, /set-repository-policy --repository-name studios --policy-text '\{"Version":"2012-10-17","Statement":\[\{"Sid":"Others".*"Sid":"AllowPullFromlab"/);
    assert.match(merged!.fix!, /--registry-id 222222222222 --endpoint-url https:\/\/berth\.example\.org\/ecr --region eu-west-2/);
    const [hidden] = await pullAccessChecks(deps({ Version: '2012-10-17', Statement: [other] }), { ...options, caller: { ...options.caller, mayView: async () => false } }, facts, []);
    assert.ok(!hidden!.fix!.includes('333333333333'), "a policy the caller may not read is not shown");
    assert.match(hidden!.fix!, /merge the statement into the repository's current policy/);

    const allow = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: workspace.registryId }, Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'] }] };
    assert.equal((await pullAccessChecks(deps(allow), options, facts, []))[0]!.status, 'pass');
  });

  describe('studio domain', () => {
    let https: FakeKubernetes;
    before(async () => {
      https = await FakeKubernetes.start();
    });
    after(() => https?.close());

    const routing = (overrides: Partial<DoctorDeps['routing']>) => ({ studioDomain: 'localhost', pathRouting: false, publicUrl: undefined, ...overrides });

    it('*.localhost passes without asking DNS; path routing needs no DNS', async () => {
      const local = await studioDomainChecks(depsWith({ routing: routing({}) }));
      assert.deepEqual(local.map((check) => check.status), ['pass', 'skip']);
      const paths = await studioDomainChecks(depsWith({ routing: routing({ studioDomain: 'nowhere.invalid', pathRouting: true }) }));
      assert.deepEqual(paths.map((check) => check.status), ['pass', 'skip']);
    });

    it('a wildcard that resolves passes; over https the certificate must be trusted', async () => {
      const port = new URL(https.url).port;
      const checks = await studioDomainChecks(depsWith({ routing: routing({ studioDomain: 'studios.example.org', publicUrl: `https://127.0.0.1:${port}` }), lookupHost: async () => '127.0.0.1', probeTls }));
      assert.equal(checks[0]!.status, 'pass');
      assert.equal(checks[1]!.id, 'studio-tls');
      assert.equal(checks[1]!.status, 'fail', "the fake's certificate is its own CA's, which the system does not trust");
      assert.match(checks[1]!.fix!, /a wildcard certificate for \*\.studios\.example\.org/);
    });

    it('a real lookup of a name that does not exist fails', async () => {
      await assert.rejects(lookupHost('doctor-probe.does-not-exist.invalid'));
      const checks = await studioDomainChecks(depsWith({ routing: routing({ studioDomain: 'does-not-exist.invalid' }), lookupHost }));
      assert.equal(checks[0]!.status, 'fail');
      assert.equal(checks[1]!.status, 'skip');
    });
  });
});
