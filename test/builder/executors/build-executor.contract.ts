import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  BuildFailed,
  ExecutorUnavailable,
  type BuildExecutor,
  type BuildJob,
  type BuildResult,
  type FailureReport,
  type Platform,
  type RegistryLogin,
} from '../../../src/builder/executors/build-executor.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { ContainerStorage, creds, removeDir, scratchDir, skopeo, textDigest, writeBusyboxContext } from '../../support/containers.ts';
import { run } from '../../support/processes.ts';

/** What an implementation's test file hands the contract. */
export interface ExecutorUnderTest {
  executor: BuildExecutor;
  /**
   * An executor over the same storage or daemon that gives the tool no time to clean up after an abort
   * (a grace period of 0); never used while `executor` builds.
   */
  impatient: BuildExecutor;
  /** The same kind of executor that cannot work: its tool is missing, or its daemon is gone. */
  unavailable: BuildExecutor;
  /** Containers, images and scratch entries the executor keeps, except the base images named in `bases`. */
  leftovers(bases: readonly string[]): Promise<string[]>;
  /** Runs `command` in the pushed image `reference` with the tool's own runtime; resolves with its stdout. */
  run(reference: string, login: RegistryLogin, command: string[]): Promise<string>;
  close(): Promise<void>;
}

const marker = 'busybox base for the executor contract';
const hostPlatform: Platform = { os: 'linux', architecture: process.arch === 'arm64' ? 'arm64' : 'amd64' };
const otherPlatform: Platform = { os: 'linux', architecture: hostPlatform.architecture === 'amd64' ? 'arm64' : 'amd64' };

interface BuildOptions {
  /** The context: relative path → content. */
  files?: Record<string, string>;
  logins?: RegistryLogin[];
  target?: string;
  platform?: Platform;
  signal?: AbortSignal;
  /** Called with the whole log so far whenever it grows. */
  onLog?: (log: string) => void;
  /** Other builds run at the same time: leave the leftovers check to the caller. */
  concurrent?: boolean;
  /** Instead of the executor under test. */
  executor?: BuildExecutor;
}

interface Outcome {
  result?: BuildResult;
  error?: unknown;
  log: string;
}

/**
 * The BuildExecutor contract, against a real Berth: each build starts FROM a busybox image pushed into Berth
 * (or FROM scratch), pushes to Berth as a user with the maintain role in workspace `studio`, and must leave
 * nothing behind in the executor's storage or daemon, whatever the outcome. No log may hold a credential.
 */
export function buildExecutorContract(kind: string, make: (registry: { host: string }) => Promise<ExecutorUnderTest>): void {
  describe(`BuildExecutor contract: ${kind}`, { timeout: 600_000 }, () => {
    let berth: TestBerth;
    let subject: ExecutorUnderTest | undefined;
    let scratch: string;
    let login: RegistryLogin;
    let base: string;

    before(async () => {
      berth = await startBerth();
      scratch = await scratchDir('executor-contract');
      const created = await berth.api('POST', '/api/workspaces', { slug: 'studio' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      login = { registry: berth.host, username: 'builder', password: await berth.user('builder'), insecure: true };
      await berth.role('studio', 'builder', 'maintain');
      base = `${berth.host}/studio/base/busybox:1`;
      await pushBase(join(scratch, 'base'), base, login);
      subject = await make({ host: berth.host });
    });

    after(async () => {
      await subject?.close();
      await berth?.close();
      await removeDir(scratch);
    });

    const executor = (): ExecutorUnderTest => {
      assert.ok(subject, 'the executor under test was made');
      return subject;
    };
    const target = (name: string) => `${berth.host}/studio/contract/${name}:1`;

    /** Builds `dockerfile` with `files` as its context; checks the log holds no secret and nothing is left behind. */
    const build = async (
      name: string,
      dockerfile: string,
      options: BuildOptions = {},
    ): Promise<Outcome> => {
      const contextDir = join(scratch, 'contexts', name);
      await mkdir(contextDir, { recursive: true });
      for (const [path, content] of Object.entries(options.files ?? {})) {
        await mkdir(dirname(join(contextDir, path)), { recursive: true });
        await writeFile(join(contextDir, path), content);
      }
      const logins = options.logins ?? [login];
      const job: BuildJob = { id: `contract-${name}`, dockerfile, contextDir, platform: options.platform ?? hostPlatform, target: options.target ?? target(name), logins };
      const builder = options.executor ?? executor().executor;
      let log = '';
      const collect = (chunk: string) => {
        log += chunk;
        options.onLog?.(log);
      };
      const outcome = await builder
        .build(job, collect, options.signal ?? new AbortController().signal)
        .then((result) => ({ result }), (error: unknown) => ({ error }));
      for (const { username, password } of logins) {
        for (const secret of [password, Buffer.from(`${username}:${password}`).toString('base64')]) {
          assert.ok(!log.includes(secret), `the log of ${name} holds a credential:\n${log}`);
        }
      }
      if (!options.concurrent) await assertNothingLeft(name);
      return { ...outcome, log };
    };
    const assertNothingLeft = async (name: string) => assert.deepEqual(await executor().leftovers([base]), [], `${name} left nothing behind`);
    const succeeded = (outcome: Outcome): BuildResult => {
      assert.ok(outcome.result, `the build succeeded: ${String(outcome.error)}\n${outcome.log}`);
      return outcome.result;
    };
    const failed = (outcome: Outcome): FailureReport => {
      assert.ok(outcome.error instanceof BuildFailed, `BuildFailed expected, got ${String(outcome.error)}\n${outcome.log}`);
      return outcome.error.report;
    };
    const skopeoAuth = () => ['--tls-verify=false', '--creds', creds('admin', berth.adminToken)];
    const inspect = async (reference: string) =>
      JSON.parse((await skopeo(['inspect', ...skopeoAuth(), `docker://${reference}`])).stdout) as { Architecture: string; Labels: Record<string, string> | null };

    it('check() resolves when the executor can build', async () => {
      await executor().executor.check();
    });

    it('builds FROM a base in the registry, pushes, and the pulled image has its label and files and runs', async () => {
      const outcome = await build(
        'app',
        [`FROM ${base}`, 'LABEL org.berth.contract="built"', 'COPY greeting.txt /greeting.txt', 'RUN echo "made by RUN" > /run.txt', 'CMD ["/bin/cat", "/greeting.txt"]', ''].join('\n'),
        { files: { 'greeting.txt': 'hello from the context\n' } },
      );
      const { digest } = succeeded(outcome);
      const manifest = (await skopeo(['inspect', '--raw', ...skopeoAuth(), `docker://${target('app')}`])).stdout;
      assert.equal(digest, textDigest(manifest), 'the digest is that of the manifest Berth serves');
      const config = await inspect(target('app'));
      assert.equal(config.Labels?.['org.berth.contract'], 'built');
      assert.equal(config.Architecture, hostPlatform.architecture);
      assert.match(outcome.log, /RUN echo "made by RUN" > \/run\.txt/, 'the log shows the steps');
      const shown = await executor().run(target('app'), login, ['/bin/cat', '/greeting.txt', '/run.txt', '/marker.txt']);
      assert.equal(shown, `hello from the context\nmade by RUN\n${marker}\n`);
    });

    it('sends the context directory as it is: subdirectories and links, no Dockerfile, no .dockerignore', async () => {
      const contextDir = join(scratch, 'contexts', 'layout');
      await mkdir(contextDir, { recursive: true });
      await symlink('sub/dir/deep.txt', join(contextDir, 'link'));
      const outcome = await build('layout', [`FROM ${base}`, 'COPY . /ctx/', 'RUN cd /ctx && find . | sort && echo "link -> $(readlink link)"', ''].join('\n'), {
        files: { 'top.txt': 'top\n', 'sub/dir/deep.txt': 'deep\n', '.dockerignore': 'top.txt\n' },
      });
      succeeded(outcome);
      const listed = ['.', './link', './sub', './sub/dir', './sub/dir/deep.txt', './top.txt', 'link -> sub/dir/deep.txt'];
      assert.ok(outcome.log.includes(listed.join('\n')), `the image holds exactly the context:\n${outcome.log}`);
    });

    it('builds for the platform the job names', async () => {
      const outcome = await build('platform', ['FROM scratch', 'COPY greeting.txt /greeting.txt', ''].join('\n'), {
        files: { 'greeting.txt': 'hi\n' },
        platform: otherPlatform,
      });
      succeeded(outcome);
      assert.equal((await inspect(target('platform'))).Architecture, otherPlatform.architecture);
    });

    it('a failing RUN step is BuildFailed naming the step, its number, its exit code and its last lines', async () => {
      const failing = 'RUN echo "about to fail" && echo "said on stderr" >&2 && exit 3';
      const report = failed(await build('failing-run', [`FROM ${base}`, 'RUN echo preparing', failing, 'CMD ["/bin/sh"]', ''].join('\n')));
      assert.equal(report.step, failing);
      assert.equal(report.stepNumber, 3);
      assert.equal(report.exitCode, 3);
      assert.ok(report.lastLines.includes('about to fail'), JSON.stringify(report.lastLines));
      assert.ok(report.lastLines.includes('said on stderr'), JSON.stringify(report.lastLines));
      assert.ok(!report.lastLines.includes('preparing'), 'only the failing step’s output');
      assert.match(report.message, /3/);
    });

    it('numbers a failing step across the stages of a multi-stage build', async () => {
      const dockerfile = [`FROM ${base} AS first`, 'RUN echo one > /one', `FROM ${base}`, 'COPY --from=first /one /one', 'RUN exit 7', ''].join('\n');
      const report = failed(await build('multi-stage', dockerfile));
      assert.deepEqual([report.step, report.stepNumber, report.exitCode], ['RUN exit 7', 5, 7]);
    });

    it('output imitating the tool’s own lines does not make the executor remove what is not its own', async () => {
      const baseManifest = JSON.parse((await skopeo(['inspect', '--raw', ...skopeoAuth(), `docker://${base}`])).stdout) as { config: { digest: string } };
      const baseId = baseManifest.config.digest.slice('sha256:'.length, 'sha256:'.length + 12);
      const imitation = `printf ' ---> Running in %s\\n ---> %s\\nRemoving intermediate container %s\\n' ${baseId} ${baseId} ${baseId}`;
      const outcome = await build('imitation', [`FROM ${base}`, `RUN ${imitation}`, `RUN ${imitation} && exit 1`, ''].join('\n'));
      assert.equal(failed(outcome).stepNumber, 3);
      assert.match(outcome.log, new RegExp(`^ ---> ${baseId}$`, 'm'), 'the imitation is in the log');
      const kept = await executor().leftovers([]);
      assert.equal(kept.length, 1, kept.join('\n'));
      assert.ok(kept[0]?.includes(base), `the base image is still there: ${kept.join('\n')}`);
    });

    it('a missing base image is BuildFailed at the FROM step, naming the image', async () => {
      const report = failed(await build('missing-base', `FROM ${berth.host}/studio/base/missing:1\n`));
      assert.equal(report.stepNumber, 1);
      assert.equal(report.step, `FROM ${berth.host}/studio/base/missing:1`);
      assert.equal(report.exitCode, undefined);
      assert.match(report.message, /studio\/base\/missing/);
      assert.match(report.message, /not known|not found/);
    });

    it('wrong credentials for the base image are BuildFailed about authentication', async () => {
      const wrong = { ...login, password: 'berth_not-a-real-token-0000000000' };
      const report = failed(await build('wrong-pull-login', `FROM ${base}\n`, { logins: [wrong] }));
      assert.match(report.message, /unauthorized|authentication|username or password/i);
    });

    it('wrong credentials for the push are BuildFailed about authentication, outside any step', async () => {
      const wrong = { ...login, password: 'berth_not-a-real-token-0000000000' };
      const report = failed(await build('wrong-push-login', 'FROM scratch\nCOPY a.txt /a.txt\n', { files: { 'a.txt': 'a\n' }, logins: [wrong] }));
      assert.match(report.message, /unauthorized|authentication|username or password/i);
      assert.equal(report.step, undefined, 'the push is not a Dockerfile step');
    });

    it('a push the login may not make is BuildFailed with the registry’s denial', async () => {
      const outsider = { ...login, username: 'outsider', password: await berth.user('outsider') };
      const report = failed(await build('denied', 'FROM scratch\nCOPY a.txt /a.txt\n', { files: { 'a.txt': 'a\n' }, logins: [outsider] }));
      assert.match(report.message, /denied/);
    });

    it('an invalid target is BuildFailed before anything runs', async () => {
      const report = failed(await build('bad-target', 'FROM scratch\n', { target: `${berth.host}/studio/Bad Name:1` }));
      assert.match(report.message, /invalid push target/);
    });

    /** Builds a step that sleeps, aborts it once it has started, and checks the outcome. */
    const abortMidStep = async (name: string, builder?: BuildExecutor) => {
      const controller = new AbortController();
      const reason = new Error('cancelled by the contract');
      // A duration of its own, so that another test file's sleeping step (files run in parallel) is not taken for this one.
      const sleep = `sleep ${600 + Math.floor(Math.random() * 100_000)}`;
      const outcome = await build(name, [`FROM ${base}`, `RUN echo started-sleeping && ${sleep}`, ''].join('\n'), {
        signal: controller.signal,
        ...(builder ? { executor: builder } : {}),
        onLog: (log) => {
          if (/^started-sleeping$/m.test(log)) controller.abort(reason);
        },
      });
      assert.equal(outcome.error, reason, outcome.log);
      assert.deepEqual(await sleepersAfterAWhile(sleep), [], 'the step’s process is gone');
    };

    // The step sleeps far longer than these tests may take: an abort that does not stop it fails by timeout.
    it('an abort mid-build stops it, rejects with the signal’s reason and leaves nothing behind', { timeout: 120_000 }, async () => {
      await abortMidStep('aborted');
    });

    it('an abort that leaves the tool no time to clean up still leaves nothing behind', { timeout: 120_000 }, async () => {
      await abortMidStep('aborted-at-once', executor().impatient);
      succeeded(await build('after-abort', `FROM ${base}\nRUN echo still works\n`, { executor: executor().impatient }));
    });

    it('an already aborted signal rejects at once with its reason', async () => {
      const reason = new Error('cancelled before it began');
      const outcome = await build('pre-aborted', 'FROM scratch\n', { signal: AbortSignal.abort(reason) });
      assert.equal(outcome.error, reason);
    });

    it('runs concurrent builds without mixing them up', async () => {
      const dockerfile = (n: number) => [`FROM ${base}`, `LABEL org.berth.contract="concurrent-${n}"`, 'COPY n.txt /n.txt', ''].join('\n');
      const outcomes = await Promise.all([1, 2].map((n) => build(`concurrent-${n}`, dockerfile(n), { files: { 'n.txt': `${n}\n` }, concurrent: true })));
      await assertNothingLeft('the concurrent builds');
      const digests = outcomes.map((outcome) => succeeded(outcome).digest);
      assert.notEqual(digests[0], digests[1]);
      for (const n of [1, 2]) assert.equal((await inspect(target(`concurrent-${n}`))).Labels?.['org.berth.contract'], `concurrent-${n}`);
    });

    it('an executor whose tool or daemon is missing is ExecutorUnavailable, in check() and in build()', async () => {
      const { unavailable } = executor();
      await assert.rejects(unavailable.check(), ExecutorUnavailable);
      const contextDir = join(scratch, 'contexts', 'unavailable');
      await mkdir(contextDir, { recursive: true });
      const job: BuildJob = { id: 'contract-unavailable', dockerfile: 'FROM scratch\n', contextDir, platform: hostPlatform, target: target('unavailable'), logins: [login] };
      await assert.rejects(unavailable.build(job, () => undefined, new AbortController().signal), ExecutorUnavailable);
    });
  });
}

/** Builds the busybox base with buildah in storage of its own and pushes it into Berth. */
async function pushBase(dir: string, reference: string, login: RegistryLogin): Promise<void> {
  const storage = await ContainerStorage.create('executor-contract-base');
  try {
    const context = await writeBusyboxContext(dir, marker);
    await storage.buildah(['bud', '--isolation=chroot', '--quiet', '-t', 'localhost/contract/base:1', context]);
    await storage.buildah(['push', '--tls-verify=false', '--creds', creds(login.username, login.password), 'localhost/contract/base:1', `docker://${reference}`]);
  } finally {
    await storage.remove();
  }
}

/** The processes still running `command` once they have had up to 5 s to go (a killed process is reaped asynchronously). */
async function sleepersAfterAWhile(command: string): Promise<string[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const left = (await run('ps', ['-eo', 'args'])).stdout.split('\n').filter((args) => args.trim() === command);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
