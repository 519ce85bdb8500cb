import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BuildTranscript, exitCodeIn, failureReportFromLog, parseStepHeader } from '../../../src/builder/executors/failure-report.ts';
import type { EngineMessage } from '../../../src/builder/executors/docker-engine.ts';

/**
 * Failure reports from real output: the fixtures were captured from buildah 1.28 and Docker Engine 20.10's
 * classic builder building against Berth (`*.log` as the executors log it, `*.jsonl` as the engine sent it).
 */
const fixture = (name: string) => readFile(join(import.meta.dirname, 'fixtures', name), 'utf8');
const failingRun = 'RUN echo "about to fail" && echo "said on stderr" >&2 && exit 3';

describe('failure reports from buildah output', () => {
  it('names the failing RUN step, its number and exit code, and keeps only that step’s lines', async () => {
    const report = failureReportFromLog(await fixture('buildah-failing-run.log'));
    assert.equal(report.step, failingRun);
    assert.equal(report.stepNumber, 3);
    assert.equal(report.exitCode, 3);
    assert.equal(report.message, `building at STEP "${failingRun}": exit status 3`);
    assert.ok(report.lastLines.includes('about to fail') && report.lastLines.includes('said on stderr'), JSON.stringify(report.lastLines));
    assert.ok(!report.lastLines.includes('preparing'), 'the earlier step’s output is not in the report');
  });

  it('numbers a step of a later stage across stages', async () => {
    const report = failureReportFromLog(await fixture('buildah-multi-stage.log'));
    assert.deepEqual([report.step, report.stepNumber, report.exitCode], ['RUN exit 7', 5, 7]);
  });

  it('reports a base image that cannot be pulled at its FROM step, without an exit code', async () => {
    const report = failureReportFromLog(await fixture('buildah-missing-base.log'));
    assert.equal(report.step, 'FROM 127.0.0.1:33709/studio/base/missing:1');
    assert.equal(report.stepNumber, 1);
    assert.equal(report.exitCode, undefined);
    assert.match(report.message, /^creating build container: .*repository studio\/base\/missing is not known$/);
  });
});

describe('failure reports from docker classic builder output', () => {
  it('follows the engine’s JSON stream: colour codes and bookkeeping lines are left out', async () => {
    const transcript = new BuildTranscript();
    let pending = '';
    let report;
    for (const line of (await fixture('docker-failing-run.jsonl')).split('\n').filter(Boolean)) {
      const message = JSON.parse(line) as EngineMessage;
      pending += message.stream ?? '';
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const complete of lines) transcript.line(complete);
      if (message.errorDetail) report = transcript.report({ message: message.errorDetail.message, exitCode: message.errorDetail.code, fallback: '' });
    }
    assert.ok(report);
    assert.equal(report.step, failingRun);
    assert.equal(report.stepNumber, 3);
    assert.equal(report.exitCode, 3);
    assert.deepEqual(report.lastLines, ['said on stderr', 'about to fail']);
    assert.match(report.message, /returned a non-zero code: 3$/);
  });

  it('reads the step and exit code from the executor’s log of the same kind of failure', async () => {
    const log = await fixture('docker-failing-run.log');
    const report = failureReportFromLog(log, { message: log.trim().split('\n').at(-1) });
    assert.deepEqual([report.step, report.stepNumber, report.exitCode], [failingRun, 3, 3]);
  });

  it('numbers steps across stages as docker does', async () => {
    const log = await fixture('docker-multi-stage.log');
    const report = failureReportFromLog(log, { message: log.trim().split('\n').at(-1) });
    assert.deepEqual([report.step, report.stepNumber, report.exitCode], ['RUN exit 7', 5, 7]);
  });

  it('reports a missing base image at its FROM step', async () => {
    const log = await fixture('docker-missing-base.log');
    const report = failureReportFromLog(log, { message: log.trim().split('\n').at(-1) });
    assert.deepEqual([report.step, report.stepNumber, report.exitCode], ['FROM 127.0.0.1:33709/studio/base/missing:1', 1, undefined]);
    assert.match(report.message, /name unknown/);
  });
});

describe('failure report details', () => {
  it('keeps at most the configured number of last lines', () => {
    const log = ['STEP 1/1: RUN noisy', ...Array.from({ length: 100 }, (_, n) => `line ${n}`), 'Error: building at STEP "RUN noisy": exit status 2'].join('\n');
    const report = failureReportFromLog(log, { tailLines: 5 });
    assert.deepEqual(report.lastLines, ['line 96', 'line 97', 'line 98', 'line 99', 'Error: building at STEP "RUN noisy": exit status 2']);
    assert.equal(report.exitCode, 2);
  });

  it('without any step header keeps the last lines and the fallback message', () => {
    const report = failureReportFromLog('one\ntwo\n', { fallback: 'the tool exited with code 125' });
    assert.deepEqual(report, { lastLines: ['one', 'two'], message: 'the tool exited with code 125' });
  });

  it('parses both tools’ step headers and exit code wordings', () => {
    assert.deepEqual(parseStepHeader('[2/3] STEP 4/6: COPY --from=a /x /x'), { stage: 2, step: 4, total: 6, instruction: 'COPY --from=a /x /x' });
    assert.deepEqual(parseStepHeader('STEP 1/2: FROM scratch'), { step: 1, total: 2, instruction: 'FROM scratch' });
    assert.deepEqual(parseStepHeader('Step 3/9 : RUN make'), { step: 3, total: 9, instruction: 'RUN make' });
    assert.equal(parseStepHeader('step 3/9 : RUN make'), undefined);
    assert.equal(exitCodeIn("The command '/bin/sh -c make' returned a non-zero code: 2"), 2);
    assert.equal(exitCodeIn('building at STEP "RUN make": exit status 127'), 127);
    assert.equal(exitCodeIn('no such image'), undefined);
  });
});
