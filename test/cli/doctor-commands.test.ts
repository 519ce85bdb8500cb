import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ExplainResult } from '../../src/toolbox/doctor/explain-error.ts';
import type { DoctorReport } from '../../src/toolbox/doctor/run-doctor.ts';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { run } from '../support/processes.ts';
import { runBerthCli } from '../support/berth-cli.ts';

const cli = new URL('../../bin/berth.js', import.meta.url).pathname;

describe('berth doctor', () => {
  let berth: TestBerth;
  const berthCli = (args: string[], input?: string) => runBerthCli(berth, args, { input });

  before(async () => {
    berth = await startBerth({ config: { studios: { allowedWorkspaces: ['admin'] } as never } });
    const set = await berth.api('PUT', '/api/workspaces/admin/settings/studios', { containerRepository: 'registry.example.org/admin/studios' });
    assert.equal(set.status, 200, JSON.stringify(set.body));
  });
  after(() => berth?.close());

  it('prints the checklist with the fix under each failure and exits 1; passes once fixed', async () => {
    const broken = await berthCli(['doctor']);
    assert.equal(broken.code, 1, broken.stderr);
    assert.match(broken.stdout, /^berth doctor: workspace admin$/m);
    assert.match(broken.stdout, /^✓ Studios enabled for the workspace: workspace admin may use Studios$/m);
    assert.match(broken.stdout, /^✗ Push credentials for the container repository: Missing credentials for container repository: registry\.example\.org\/admin\/studios/m);
    assert.match(broken.stdout, /^ {4}fix: printf '%s' "\$REGISTRY_PASSWORD" \| berth credentials add --workspace admin --name registry\.example\.org --provider container-reg/m);
    assert.match(broken.stdout, /^- Pull access from compute environment local: /m);
    assert.match(broken.stdout, /\d+ passed, 1 failed, 0 warnings — fix the ✗ errors above$/m);

    const json = await berthCli(['doctor', '--workspace', 'admin', '--json']);
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout) as DoctorReport;
    assert.equal(report.ok, false);
    assert.deepEqual(report.checks.filter((check) => check.status === 'fail').map((check) => check.id), ['push-credentials']);

    const added = await berthCli(['credentials', 'add', '--name', 'registry.example.org', '--provider', 'container-reg', '--registry', 'registry.example.org', '--user', 'bot', '--password-stdin'], 'registry-password');
    assert.equal(added.code, 0, added.stderr);
    const fixed = await berthCli(['doctor']);
    assert.equal(fixed.code, 0, fixed.stdout);
    assert.match(fixed.stdout, /^✓ Push credentials for the container repository: workspace credential registry\.example\.org logs builds in/m);
    assert.doesNotMatch(fixed.stdout, /^✗/m);
  });

  it('a workspace the caller may not see is refused (exit 2, the API\'s message)', async () => {
    const outsider = await berth.user('outsider');
    const refused = await run(process.execPath, [cli, 'doctor', '--workspace', 'admin'], { env: { ...process.env, BERTH_URL: berth.url, BERTH_TOKEN: outsider }, allowFailure: true });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /outsider may not run the doctor in workspace admin/);
  });
});

describe('berth doctor explain (no server needed)', () => {
  const explain = (args: string[], input?: string) => run(process.execPath, [cli, 'doctor', 'explain', ...args], { env: { ...process.env, BERTH_URL: 'http://127.0.0.1:9' }, allowFailure: true, input });

  it('explains a pasted error: title, what matched, cause and fix', async () => {
    const answer = await explain(['CannotPullContainerError: Error response from daemon: toomanyrequests: You have reached your pull rate limit.']);
    assert.equal(answer.code, 0, answer.stderr);
    assert.match(answer.stdout, /^Docker Hub pull rate limit \(docker-hub-rate-limit\)$/m);
    assert.match(answer.stdout, /^ {4}matched: toomanyrequests$/m);
    assert.match(answer.stdout, /^ {4}fix: {5}Pull through a cache/m);
    assert.match(answer.stdout, /^Compute could not pull the image \(cannot-pull-container\)$/m, 'the generic wrapper is explained after the cause');
    assert.ok(answer.stdout.indexOf('docker-hub-rate-limit') < answer.stdout.indexOf('cannot-pull-container'));
  });

  it('reads standard input with -, and prints JSON with --json', async () => {
    const answer = await explain(['-', '--json'], 'Warning  Failed  3s  kubelet  Error: ImagePullBackOff\n');
    assert.equal(answer.code, 0, answer.stderr);
    const result = JSON.parse(answer.stdout) as ExplainResult;
    assert.equal(result.recognised, true);
    assert.deepEqual(result.matches.map((match) => match.id), ['image-pull-backoff']);
    assert.equal(result.matches[0]!.matched, 'ImagePullBackOff');
  });

  it('says when it does not recognise the text, and what to do next', async () => {
    const answer = await explain(['the flux capacitor is out of alignment']);
    assert.equal(answer.code, 0);
    assert.match(answer.stdout, /^Not recognised: this error is not in Berth's table of known errors\.$/m);
    assert.match(answer.stdout, /berth doctor --workspace WORKSPACE/);
    const empty = await explain(['-'], '  \n');
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /nothing to explain: standard input was empty/);
  });
});
