import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DoctorCheck } from '../../src/toolbox/doctor/doctor-check.ts';
import type { DoctorReport } from '../../src/toolbox/doctor/run-doctor.ts';
import { aws, type AwsKey } from '../support/aws.ts';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { startDistribution, type Distribution } from '../support/distribution.ts';
import { FakeKubernetes } from '../support/fake-kubernetes.ts';
import { freePort } from '../support/processes.ts';

type ErrorBody = { error: { code: string; message: string } };

const studios = { allowedWorkspaces: ['lab', 'field', 'team'] };
const brokenConnect = { studioDomain: 'studios.doctor-test.invalid', pathRouting: false };
const secrets = { registryPassword: 'registry-pass-0123456789', githubToken: 'ghp_DoctorTestToken0123456789' };

/** The problems of a report: checks that failed or warned, by id. */
function problems(report: DoctorReport): Map<string, DoctorCheck> {
  return new Map(report.checks.filter((check) => check.status === 'fail' || check.status === 'warn').map((check) => [check.id, check]));
}

function byId(report: DoctorReport, id: string): DoctorCheck {
  const check = report.checks.find((candidate) => candidate.id === id);
  assert.ok(check, `no check ${id} in ${report.checks.map((c) => c.id).join(', ')}`);
  return check;
}

describe('POST /api/toolbox/doctor: a deliberately broken setup, then fixed', () => {
  let berth: TestBerth;
  let kubernetes: FakeKubernetes;
  let distribution: Distribution;
  let labKey: AwsKey;
  let teamKey: AwsKey;
  let dataDir: string;
  const doctor = (workspace: string, token?: string) => berth.api<DoctorReport & ErrorBody>('POST', '/api/toolbox/doctor', { workspace }, token);

  const addKubernetesEnv = async (workspace: string) => {
    const token = await berth.api<{ credentialsId: string }>('POST', `/api/credentials?workspaceId=${workspace}`, {
      credentials: { name: 'cluster', provider: 'github', keys: { password: kubernetes.token } },
    });
    assert.equal(token.status, 201, JSON.stringify(token.body));
    const env = await berth.api<{ computeEnvId: string }>('POST', `/api/compute-envs?workspaceId=${workspace}`, {
      computeEnv: { name: 'k8s', platform: 'kubernetes', config: { server: kubernetes.url, agentImage: 'registry.example.org/berth/agent:1', caCert: kubernetes.caCert }, credentialsId: token.body.credentialsId },
    });
    assert.equal(env.status, 201, JSON.stringify(env.body));
  };

  before(async () => {
    kubernetes = await FakeKubernetes.start();
    distribution = await startDistribution();
    berth = await startBerth({ config: { studios: studios as never, connect: brokenConnect as never } });
    dataDir = berth.dataDir;
    for (const slug of ['lab', 'field', 'team']) assert.equal((await berth.api('POST', '/api/workspaces', { slug })).status, 201);
    labKey = (await berth.api<AwsKey>('POST', '/api/access-keys', { workspace: 'lab' })).body;
    teamKey = (await berth.api<AwsKey>('POST', '/api/access-keys', { workspace: 'team' })).body;

    // lab: images go to another registry, with no credential to push there
    assert.equal((await berth.api('PUT', '/api/workspaces/lab/settings/studios', { containerRepository: 'registry.example.org/lab/studios' })).status, 200);
    await addKubernetesEnv('lab');
    const docker = await berth.api('POST', '/api/compute-envs?workspaceId=lab', { computeEnv: { name: 'docker', platform: 'docker', config: { socket: join(dataDir, 'no-docker.sock') } } });
    assert.equal(docker.status, 201, JSON.stringify(docker.body));
    const closedPort = await freePort();
    await aws(berth.url, labKey, ['create-pull-through-cache-rule', '--ecr-repository-prefix', 'mirror', '--upstream-registry-url', `http://127.0.0.1:${closedPort}`]);
    const studio = await berth.api('POST', '/api/studios?workspaceId=lab', { name: 'from-github', remoteConfig: { repository: 'https://github.com/example-org/notebooks' }, computeEnvId: 'k8s' });
    assert.equal(studio.status, 200, JSON.stringify(studio.body));

    // field: images go to a repository of workspace team, which does not let field pull
    assert.equal((await berth.api('PUT', '/api/workspaces/field/settings/studios', { containerRepository: 'team/studios' })).status, 200);
    await addKubernetesEnv('field');
  });
  after(async () => {
    await berth?.close();
    await distribution?.stop();
    await kubernetes?.close();
  });

  it('reports each problem of lab once, with its fix, and is not ok', async () => {
    const answer = await doctor('lab');
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const report = answer.body;
    assert.equal(report.workspace, 'lab');
    assert.equal(report.ok, false);
    const found = problems(report);
    assert.deepEqual([...found.keys()].sort(), ['compute-env:docker', 'github-credential', 'pull-access:k8s', 'pull-through:mirror', 'push-credentials', 'studio-domain'].sort());

    const push = found.get('push-credentials')!;
    assert.equal(push.status, 'fail');
    assert.match(push.message, /^Missing credentials for container repository: registry\.example\.org\/lab\/studios/);
    assert.match(push.fix!, /berth credentials add --workspace lab --name registry\.example\.org --provider container-reg --registry registry\.example\.org/);

    const docker = found.get('compute-env:docker')!;
    assert.equal(docker.status, 'fail');
    assert.match(docker.message, /docker is INVALID: Docker daemon unreachable/);
    assert.match(docker.fix!, /berth compute-envs delete docker --workspace lab/);
    // the unavailable environment's pull access is not reported again
    assert.equal(byId(report, 'pull-access:docker').status, 'skip');
    assert.match(byId(report, 'pull-access:docker').message, /see compute-env:docker/);
    assert.equal(found.get('pull-access:k8s')!.status, 'warn', 'kubernetes nodes pull from other registries by themselves');

    const rule = found.get('pull-through:mirror')!;
    assert.equal(rule.status, 'fail');
    assert.match(rule.message, /127\.0\.0\.1:\d+/);
    assert.match(rule.fix!, /berth registry cache-rules delete mirror --workspace lab/);

    const github = found.get('github-credential')!;
    assert.equal(github.status, 'warn');
    assert.equal(github.level, 'warning');
    assert.match(github.message, /studio from-github clone github\.com without a credential/);
    assert.match(github.fix!, /berth credentials add --workspace lab --name github\.com --provider github/);

    const domain = found.get('studio-domain')!;
    assert.equal(domain.status, 'fail');
    assert.match(domain.message, /\.studios\.doctor-test\.invalid does not resolve/);
    assert.match(domain.fix!, /\*\.studios\.doctor-test\.invalid\. {2}IN CNAME/);
    assert.match(domain.fix!, /pathRouting: true/);
    assert.equal(byId(report, 'studio-tls').status, 'skip');

    for (const id of ['studios-enabled', 'container-repository', 'compute-available', 'compute-env:k8s', 'agent-version:jupyter']) assert.equal(byId(report, id).status, 'pass', id);
    assert.deepEqual(report.summary, { passed: report.checks.filter((c) => c.status === 'pass').length, failed: 4, warnings: 2 });
  });

  it('for a repository in another workspace, names the policy statement that lets this workspace pull', async () => {
    const report = (await doctor('field')).body;
    const registryId = (await berth.api<{ workspaces: Array<{ slug: string; registryId: string }> }>('GET', '/api/workspaces')).body.workspaces.find((w) => w.slug === 'field')!.registryId;
    assert.deepEqual([...problems(report).keys()].sort(), ['pull-access', 'push-credentials', 'studio-domain']);
    const pull = byId(report, 'pull-access');
    assert.equal(pull.status, 'fail');
    assert.match(pull.message, /team\/studios does not exist yet, so no repository policy lets workspace field pull from workspace team/);
    const statement = JSON.stringify({ Sid: 'AllowPullFromfield', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${registryId}:root` }, Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'] });
    assert.ok(pull.fix!.includes(statement), pull.fix);
    assert.match(pull.fix!, /berth grant team\/studios --principal field --actions pull/);
    assert.match(pull.fix!, /aws ecr create-repository --repository-name studios --registry-id \d{12}/);
    assert.match(pull.fix!, /aws ecr set-repository-policy --repository-name studios --policy-text '/);
    // builds push as the user who starts the studio: members of field without maintain in team may not
    const push = byId(report, 'push-credentials');
    assert.deepEqual([push.level, push.status], ['warning', 'warn']);
    assert.match(push.message, /only members of team with the maintain role may/);
    assert.match(push.fix!, /"Sid":"AllowPushFromfield".*"ecr:PutImage"/);
    assert.match(push.fix!, /berth grant team\/studios --principal field --actions push/);
  });

  it('takes the view role in the workspace, and never shows a secret', async () => {
    const outsider = await berth.user('outsider');
    const refused = await doctor('lab', outsider);
    assert.equal(refused.status, 403);
    assert.match(refused.body.error.message, /may not run the doctor in workspace lab/);
    const viewer = await berth.user('viewer');
    await berth.role('lab', 'viewer', 'view');
    const seen = await doctor('lab', viewer);
    assert.equal(seen.status, 200);
    assert.equal((await berth.api<DoctorReport>('POST', '/api/toolbox/doctor', {}, outsider)).body.workspace, 'outsider', 'default: the caller\'s own workspace');
    assert.equal((await berth.api<ErrorBody>('POST', '/api/toolbox/doctor', { workspace: 'lab', extra: 1 })).status, 400);
    const text = JSON.stringify(seen.body);
    for (const secret of [kubernetes.token, labKey.secretAccessKey]) assert.ok(!text.includes(secret));
  });

  it('after the fixes (credentials added, policy granted, environment removed, rule repointed, path routing), passes', async () => {
    const pushCredential = await berth.api('POST', '/api/credentials?workspaceId=lab', {
      credentials: { name: 'registry.example.org', provider: 'container-reg', keys: { registry: 'registry.example.org', userName: 'lab-bot', password: secrets.registryPassword } },
    });
    assert.equal(pushCredential.status, 201);
    const github = await berth.api('POST', '/api/credentials?workspaceId=lab', { credentials: { name: 'github.com', provider: 'github', keys: { userName: 'ada', password: secrets.githubToken } } });
    assert.equal(github.status, 201);
    const studio = (await berth.api<{ studios: Array<{ sessionId: string }> }>('GET', '/api/studios?workspaceId=lab')).body.studios[0]!;
    const named = await berth.api('PUT', `/api/studios/${studio.sessionId}?workspaceId=lab`, { remoteConfig: { repository: 'https://github.com/example-org/notebooks', credentialsId: 'github.com' } });
    assert.equal(named.status, 200, JSON.stringify(named.body));
    const envs = (await berth.api<{ computeEnvs: Array<{ id: string; name: string }> }>('GET', '/api/compute-envs?workspaceId=lab')).body.computeEnvs;
    assert.equal((await berth.api('DELETE', `/api/compute-envs/${envs.find((env) => env.name === 'docker')!.id}?workspaceId=lab`)).status, 204);
    await aws(berth.url, labKey, ['delete-pull-through-cache-rule', '--ecr-repository-prefix', 'mirror']);
    await aws(berth.url, labKey, ['create-pull-through-cache-rule', '--ecr-repository-prefix', 'mirror', '--upstream-registry-url', distribution.url]);

    // field: the statement the doctor gave, set with the aws CLI as team's admin
    const before = (await doctor('field')).body;
    const statements = ['pull-access', 'push-credentials'].map((id) => JSON.parse(byId(before, id).fix!.split('\n')[1]!.trim()) as unknown);
    await aws(berth.url, teamKey, ['create-repository', '--repository-name', 'studios']);
    await aws(berth.url, teamKey, ['set-repository-policy', '--repository-name', 'studios', '--policy-text', JSON.stringify({ Version: '2012-10-17', Statement: statements })]);
    const granted = (await doctor('field')).body;
    assert.equal(byId(granted, 'pull-access').status, 'pass');
    assert.equal(byId(granted, 'push-credentials').status, 'pass');

    // the studio domain is configuration: Berth restarts with path routing on
    await berth.close({ keepData: true });
    berth = await startBerth({ dataDir, config: { studios: studios as never, connect: { ...brokenConnect, pathRouting: true } as never } });
    for (const workspace of ['lab', 'field']) {
      const report = (await doctor(workspace)).body;
      assert.equal(report.ok, true, JSON.stringify(report.checks.filter((c) => c.status === 'fail'), null, 2));
      assert.equal(report.summary.failed, 0);
      assert.deepEqual([...problems(report).keys()], workspace === 'lab' ? ['pull-access:k8s'] : [], 'only the kubernetes pull warning is left');
      assert.equal(byId(report, 'studio-domain').status, 'pass');
      if (workspace === 'lab') {
        for (const id of ['push-credentials', 'pull-through:mirror', 'github-credential']) assert.equal(byId(report, id).status, 'pass', id);
        assert.ok(!report.checks.some((check) => check.id === 'compute-env:docker'));
      }
      const text = JSON.stringify(report);
      for (const secret of Object.values(secrets)) assert.ok(!text.includes(secret), 'no secret in the report');
    }
  });
});
