import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CliError } from '../../src/cli/client.ts';
import { environmentOf, EventStreamParser, maxCondaEnvironmentChars, readCondaEnvironment, studioRequestOf, type AddOptions } from '../../src/cli/studio-commands.ts';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { run } from '../support/processes.ts';

const cli = new URL('../../bin/berth.js', import.meta.url).pathname;

/** Runs `berth studios …` against `url`; by default a port fetch never connects to, so a refusal there came before any request. */
const studiosCli = (args: string[], url = 'http://127.0.0.1:9', token = 'berth_unused') =>
  run(process.execPath, [cli, 'studios', ...args], { env: { ...process.env, BERTH_URL: url, BERTH_TOKEN: token }, allowFailure: true });

const condaEnvironment = 'channels:\n  - conda-forge\ndependencies:\n  - numpy\n';

describe('berth studios: the request add sends', () => {
  it('carries the template, configuration, environment, privacy and labels', () => {
    const options: AddOptions = {
      name: 'notebook',
      template: 'jupyter',
      computeEnv: 'local',
      cpu: 0.5,
      memory: 2048,
      gpu: 0,
      env: ['GREETING=hello world', 'EMPTY=', 'EQUATION=a=b', 'GREETING=hi'],
      lifespan: 2,
      private: true,
      label: ['team-a', 'gpu'],
      description: 'for the tests',
    };
    assert.deepEqual(JSON.parse(JSON.stringify(studioRequestOf(options, condaEnvironment))), {
      name: 'notebook',
      description: 'for the tests',
      templateKey: 'jupyter',
      computeEnvId: 'local',
      configuration: {
        cpu: 0.5,
        memory: 2048,
        gpu: 0,
        condaEnvironment,
        environment: { GREETING: 'hi', EMPTY: '', EQUATION: 'a=b' },
        lifespanHours: 2,
      },
      isPrivate: true,
      labels: ['team-a', 'gpu'],
    });
  });

  it('names an image or a repository at a revision instead of a template', () => {
    assert.equal(studioRequestOf({ name: 'x', image: 'example.org/tool:1' }, undefined).dataStudioToolUrl, 'example.org/tool:1');
    assert.deepEqual(studioRequestOf({ name: 'x', repository: 'https://example.org/r.git', revision: 'main' }, undefined).remoteConfig, {
      repository: 'https://example.org/r.git',
      revision: 'main',
    });
  });

  it('refuses a studio that runs nothing, or two things, and a revision without a repository', () => {
    assert.throws(() => studioRequestOf({ name: 'x' }, undefined), (error: Error) => error instanceof CliError && /--template KEY, --image IMAGE or --repository URL/.test(error.message));
    assert.throws(() => studioRequestOf({ name: 'x', template: 'jupyter', image: 'i' }, undefined), /--template or --image, not both/);
    assert.throws(() => studioRequestOf({ name: 'x', template: 'jupyter', revision: 'main' }, undefined), /--revision goes with --repository/);
    assert.throws(() => studioRequestOf({ name: 'x', template: 'jupyter', repository: 'https://example.org/r.git' }, undefined), /takes its image from the repository/);
  });

  it('--env takes KEY=VALUE: a missing = or key is refused', () => {
    assert.equal(environmentOf([]), undefined);
    assert.deepEqual(environmentOf(['A=1', 'B==2']), { A: '1', B: '=2' });
    assert.throws(() => environmentOf(['NOVALUE']), (error: Error) => error instanceof CliError && /^--env: .*"NOVALUE" must look like KEY=VALUE/.test(error.message));
    assert.throws(() => environmentOf(['=x']), /"=x" must look like KEY=VALUE/);
    assert.throws(() => environmentOf(['SPACE D=x']), /must look like KEY=VALUE/);
  });
});

describe('berth studios: the conda file', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'berth-cli-studios-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it(`is read as text up to ${maxCondaEnvironmentChars} characters; longer, empty or missing files are refused`, async () => {
    const fits = join(scratch, 'fits.yml');
    const exact = `${condaEnvironment}#${'x'.repeat(maxCondaEnvironmentChars - condaEnvironment.length - 2)}\n`;
    assert.equal(exact.length, maxCondaEnvironmentChars);
    await writeFile(fits, exact);
    assert.equal(await readCondaEnvironment(fits), exact);

    const long = join(scratch, 'long.yml');
    await writeFile(long, `${exact}x`);
    await assert.rejects(readCondaEnvironment(long), new RegExp(`long\\.yml has ${maxCondaEnvironmentChars + 1} characters; .* at most ${maxCondaEnvironmentChars}$`));

    const empty = join(scratch, 'empty.yml');
    await writeFile(empty, '\n');
    await assert.rejects(readCondaEnvironment(empty), /empty\.yml is empty/);
    await assert.rejects(readCondaEnvironment(join(scratch, 'missing.yml')), /cannot read .*missing\.yml: ENOENT/);
  });

  it('a too long file stops `add` before anything is sent', async () => {
    const long = join(scratch, 'too-long.yml');
    await writeFile(long, `${condaEnvironment}#${'x'.repeat(maxCondaEnvironmentChars)}\n`);
    const result = await studiosCli(['add', '--name', 'n', '--template', 'jupyter', '--conda-file', long]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /^berth: .*too-long\.yml has \d+ characters; a studio's conda environment may have at most 2048$/m);
    assert.doesNotMatch(result.stderr, /cannot reach Berth/);
  });
});

describe('berth studios: arguments refused before any request', () => {
  const refusals: Array<[string, string[], RegExp]> = [
    ['--env without =', ['add', '--name', 'n', '--template', 'jupyter', '--env', 'A=1', 'B'], /^berth: --env: env entry "B" must look like KEY=VALUE/m],
    ['no template, image or repository', ['add', '--name', 'n'], /^berth: give what the studio runs/m],
    ['--revision alone', ['add', '--name', 'n', '--image', 'i', '--revision', 'v1'], /^berth: --revision goes with --repository/m],
    ['no --name', ['add', '--template', 'jupyter'], /required option '--name <name>' not specified/],
    ['a CPU count that is not a number', ['add', '--name', 'n', '--template', 'jupyter', '--cpu', 'many'], /'--cpu <n>' argument 'many' is invalid\. must be a number above 0/],
    ['memory 0', ['add', '--name', 'n', '--template', 'jupyter', '--memory', '0'], /'--memory <MiB>' argument '0' is invalid\. must be above 0/],
    ['a negative lifespan', ['add', '--name', 'n', '--template', 'jupyter', '--lifespan', '-1'], /'--lifespan <hours>' argument '-1' is invalid/],
    ['an unknown status to wait for', ['wait', 'n', '--status', 'ready'], /'--status <status>' argument 'ready' is invalid\. must be one of building, buildFailed, starting, running/],
    ['wait without --status', ['wait', 'n'], /required option '--status <status>' not specified/],
    ['a zero timeout', ['wait', 'n', '--status', 'running', '--timeout', '0'], /'--timeout <seconds>' argument '0' is invalid/],
    ['list by an unknown status', ['list', '--status', 'up'], /'--status <status>' argument 'up' is invalid/],
  ];
  for (const [what, args, message] of refusals) {
    it(what, async () => {
      const result = await studiosCli(args);
      assert.notEqual(result.code, 0, result.stdout);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.stderr, /cannot reach Berth/);
    });
  }

  it('a valid command does try to reach Berth (the refusals above are the CLI\'s own)', async () => {
    const result = await studiosCli(['add', '--name', 'n', '--template', 'jupyter', '--env', 'A=1', '--cpu', '0.5']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^berth: cannot reach Berth at http:\/\/127\.0\.0\.1:9 /m);
  });
});

describe('berth studios: server-sent events', () => {
  it('are split into events whatever the chunks, with comments skipped and data lines joined', () => {
    const stream = ': keep-alive\n\nevent: status\ndata: {"status":"starting"}\n\r\nevent: progress\r\ndata: {"step":"start",\r\ndata:"status":"succeeded"}\r\n\r\ndata: plain\n\n';
    const expected = [
      { event: 'status', data: '{"status":"starting"}' },
      { event: 'progress', data: '{"step":"start",\n"status":"succeeded"}' },
      { event: 'message', data: 'plain' },
    ];
    for (const size of [1, 2, 3, 7, stream.length]) {
      const parser = new EventStreamParser();
      const events = [];
      for (let i = 0; i < stream.length; i += size) events.push(...parser.push(stream.slice(i, i + size)));
      assert.deepEqual(events, expected, `chunks of ${size}`);
    }
  });
});

interface StudioJson {
  sessionId: string;
  name: string;
  studioUrl: string;
  computeEnv: { name: string; platform: string };
  template: { tool: string };
  configuration: { environment: Record<string, string>; gpu: number };
  labels: string[];
  statusInfo: { status: string; message: string | null };
}

describe('berth studios against a real Berth (local runner, the Jupyter template)', () => {
  let berth: TestBerth;
  const berthCli = (args: string[]) => studiosCli(args, berth.url, berth.adminToken);

  before(async () => {
    berth = await startBerth({ config: { studios: { allowedWorkspaces: null } } });
  });
  after(async () => {
    await berth?.close();
  });

  it('add --start --json → wait running → list → stop → wait stopped → delete', async () => {
    const added = await berthCli(['add', '--name', 'cli-notebook', '--template', 'jupyter', '--compute-env', 'local', '--env', 'GREETING=hello', '--label', 'cli', '--start', '--json']);
    assert.equal(added.code, 0, added.stderr);
    const studio = JSON.parse(added.stdout) as StudioJson;
    assert.match(studio.sessionId, /^[a-z0-9]{8,40}$/);
    assert.equal(studio.studioUrl, `http://${studio.sessionId}.localhost:${new URL(berth.url).port}/`);
    assert.deepEqual([studio.name, studio.computeEnv.name, studio.computeEnv.platform, studio.template.tool], ['cli-notebook', 'local', 'local', 'jupyter']);
    assert.deepEqual([studio.configuration.environment, studio.labels], [{ GREETING: 'hello' }, ['cli']]);
    assert.ok(['building', 'starting', 'running'].includes(studio.statusInfo.status), studio.statusInfo.status);

    const running = await berthCli(['wait', 'cli-notebook', '--status', 'running', '--timeout', '120']);
    assert.equal(running.code, 0, running.stderr);
    assert.match(running.stderr, /^cli-notebook: running \(the tool accepts connections\)$/m);
    assert.match(running.stderr, /^cli-notebook: start succeeded: compute started on local$/m);
    assert.equal(running.stdout, '');

    const listed = await berthCli(['list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^NAME +SESSION +STATUS +TOOL +URL$/m);
    assert.match(listed.stdout, new RegExp(`^cli-notebook +${studio.sessionId} +running +jupyter +${studio.studioUrl.replace(/\./g, '\\.')}$`, 'm'));
    assert.deepEqual(JSON.parse((await berthCli(['list', '--status', 'stopped', '--json'])).stdout), []);
    assert.equal(JSON.parse((await berthCli(['list', '--search', 'NOTEBOOK', '--workspace', 'admin', '--json'])).stdout).length, 1);

    assert.equal((await berthCli(['open', studio.sessionId])).stdout, `${studio.studioUrl}\n`);
    const logs = await berthCli(['logs', 'cli-notebook']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, new RegExp(`^berth agent: connected to .* as session ${studio.sessionId}$`, 'm'));
    const refused = await berthCli(['delete', 'cli-notebook']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /^berth: studio cli-notebook is running: stop it before deleting it$/m);

    const stopping = await berthCli(['stop', 'cli-notebook']);
    assert.equal(stopping.code, 0, stopping.stderr);
    assert.match(stopping.stdout, /^cli-notebook: (stopping|stopped)$/m);
    const stopped = await berthCli(['wait', studio.sessionId, '--status', 'stopped']);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, /^cli-notebook: stopped$/m);
    assert.match((await berthCli(['list'])).stdout, new RegExp(`^cli-notebook +${studio.sessionId} +stopped `, 'm'));

    const deleted = await berthCli(['delete', 'cli-notebook']);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `deleted studio cli-notebook (session ${studio.sessionId})\n`);
    assert.deepEqual(JSON.parse((await berthCli(['list', '--json'])).stdout), []);
  });

  it('wait exits non-zero with the reason when the studio errors', async () => {
    // A local compute environment has no GPUs to give: the runner refuses the session, which ends errored.
    const added = await berthCli(['add', '--name', 'cli-gpu', '--template', 'jupyter', '--gpu', '1', '--start']);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /^created studio cli-gpu \(session [a-z0-9]+, (starting|errored)\): http:\/\/[a-z0-9]+\.localhost:\d+\/$/m);
    const waited = await berthCli(['wait', 'cli-gpu', '--status', 'running']);
    assert.notEqual(waited.code, 0);
    assert.match(waited.stderr, /^berth: cli-gpu is errored: a local compute environment cannot give a session GPUs$/m);

    const errored = await berthCli(['wait', 'cli-gpu', '--status', 'errored']);
    assert.equal(errored.code, 0, errored.stderr);
  });

  it('a studio that never gets there times out; unknown names and API refusals are reported', async () => {
    const added = await berthCli(['add', '--name', 'cli-idle', '--template', 'jupyter']);
    assert.equal(added.code, 0, added.stderr);
    const timedOut = await berthCli(['wait', 'cli-idle', '--status', 'running', '--timeout', '1']);
    assert.notEqual(timedOut.code, 0);
    assert.match(timedOut.stderr, /^berth: timed out after 1 s waiting for cli-idle to be running \(it is stopped\)$/m);

    const unknown = await berthCli(['start', 'nothing-here']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /^berth: no studio named "nothing-here" in your personal workspace$/m);
    const again = await berthCli(['add', '--name', 'cli-idle', '--template', 'jupyter']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /^berth: a studio named "cli-idle" already exists in this workspace$/m);
    const noTemplate = await berthCli(['add', '--name', 'cli-other', '--template', 'no-such-tool']);
    assert.match(noTemplate.stderr, /^berth: .*no template "no-such-tool"/m);
    assert.equal((await berthCli(['delete', 'cli-idle'])).code, 0);
  });
});
