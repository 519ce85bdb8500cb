import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  condaDockerfile,
  CondaDockerfileError,
  condaEnvironmentFileName,
  condaLockEndMarker,
  condaLockStartMarker,
  condaTemplateVersion,
  extractCondaLock,
  type CondaDockerfileOptions,
} from '../../../src/builder/conda/conda-dockerfile.ts';
import { parseEnvironmentFile, renderEnvironmentFile } from '../../../src/builder/conda/environment-file.ts';
import { ContainerStorage, writeBusyboxContext } from '../../support/containers.ts';

const goldenDir = new URL('./golden/', import.meta.url);

/** An RNA-seq environment with channels, a channel-pinned spec and pip. */
const rnaseq = parseEnvironmentFile(
  ['name: rnaseq', 'channels: [conda-forge, bioconda]', 'dependencies:', '  - python=3.11', '  - bioconda::samtools=1.19', '  - pip', '  - pip: [multiqc==1.21]', ''].join('\n'),
);

/** A studio environment whose variables need Dockerfile escaping. */
const studio = parseEnvironmentFile(
  ['channels: [conda-forge]', 'dependencies: [jupyterlab>=4, "numpy 1.26.* py311*"]', 'variables:', `  PROMPT: 'study "A" costs $5'`, '  OMP_NUM_THREADS: 4', ''].join('\n'),
);

const customOptions: CondaDockerfileOptions = {
  mambaImage: 'registry.example.org:5000/tools/micromamba:2.1.1',
  baseImage: 'quay.io/jupyter/base-notebook:2024-10-07',
  basePackages: ['conda-forge::procps-ng', 'conda-forge::tini>=0.19'],
  platform: 'linux/arm64',
};

/**
 * Compares with a reviewed golden file. On a change it fails with a line diff and writes the new
 * text next to the temp dir so that a reviewer can inspect it and, if intended, copy it over the
 * golden file together with a new template version.
 */
async function assertGolden(name: string, actual: string): Promise<void> {
  const expected = await readFile(new URL(name, goldenDir), 'utf8');
  if (actual === expected) return;
  const actualPath = join(tmpdir(), `berth-golden-${name}`);
  await writeFile(actualPath, actual);
  assert.fail(
    `${name} no longer matches its golden file (template ${condaTemplateVersion}).\n` +
      `Diff (- golden, + actual):\n${lineDiff(expected, actual)}\n` +
      `The new output is in ${actualPath}. A released template must not change: add a new template version instead.`,
  );
}

/** A minimal line diff (longest common subsequence), enough to read a Dockerfile change. */
function lineDiff(expected: string, actual: string): string {
  const a = expected.replace(/\n$/, '').split('\n');
  const b = actual.replace(/\n$/, '').split('\n');
  const common: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      common[i]![j] = a[i] === b[j] ? common[i + 1]![j + 1]! + 1 : Math.max(common[i + 1]![j]!, common[i]![j + 1]!);
    }
  }
  const lines: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) lines.push(`  ${a[i++]}`), j++;
    else if (j < b.length && (i === a.length || common[i]![j + 1]! > common[i + 1]![j]!)) lines.push(`+ ${b[j++]}`);
    else lines.push(`- ${a[i++]}`);
  }
  return lines.join('\n');
}

describe('condaDockerfile: golden files', () => {
  it('renders the default options (Wave defaults: micromamba 1.5.10, ubuntu 24.04, procps-ng)', async () => {
    await assertGolden('default.Dockerfile', condaDockerfile(rnaseq).dockerfile);
  });

  it('renders custom images, base packages that need shell quoting, a platform and variables', async () => {
    await assertGolden('custom-options.Dockerfile', condaDockerfile(studio, customOptions).dockerfile);
  });

  it('shows a readable diff when the output drifts from the golden file', () => {
    assert.equal(lineDiff('FROM a\nRUN x\nENV A=1\n', 'FROM a\nRUN y\nENV A=1\n'), '  FROM a\n- RUN x\n+ RUN y\n  ENV A=1');
  });
});

describe('condaDockerfile', () => {
  it('returns the environment file for the build context and the template version', () => {
    const result = condaDockerfile(rnaseq);
    assert.equal(result.environmentFile, renderEnvironmentFile(rnaseq));
    assert.equal(result.templateVersion, 'v1');
    assert.equal(condaTemplateVersion, 'v1');
    assert.match(result.dockerfile, new RegExp(`^COPY ${condaEnvironmentFileName} /tmp/environment.yml$`, 'm'));
    assert.match(result.dockerfile, new RegExp(`^ {4}&& echo "${condaLockStartMarker}" \\\\$`, 'm'));
    assert.match(result.dockerfile, new RegExp(`^ {4}&& echo "${condaLockEndMarker}" \\\\$`, 'm'));
  });

  it('leaves no template syntax in the output', () => {
    for (const options of [{}, customOptions, { basePackages: [] }]) {
      const { dockerfile } = condaDockerfile(studio, options);
      assert.doesNotMatch(dockerfile, /\{\{|\}\}|^##/m);
      assert.ok(dockerfile.endsWith('\n') && !dockerfile.endsWith('\n\n'));
    }
  });

  it('is deterministic: the same input gives byte-identical output', () => {
    const first = condaDockerfile(studio, customOptions);
    const second = condaDockerfile(structuredClone(studio), { ...customOptions, basePackages: [...(customOptions.basePackages ?? [])] });
    assert.deepEqual(second, first);
  });

  it('gives equal environments written differently the same Dockerfile and environment file', () => {
    const reordered = parseEnvironmentFile(
      `{variables: {OMP_NUM_THREADS: 4, PROMPT: 'study "A" costs $5'}, dependencies: [" jupyterlab>=4", "numpy 1.26.* py311*"], channels: [conda-forge]}`,
    );
    assert.deepEqual(condaDockerfile(reordered), condaDockerfile(studio));
  });

  it('changes whenever an input that shapes the image changes', () => {
    const variants = [
      condaDockerfile(rnaseq).dockerfile,
      condaDockerfile(rnaseq, { mambaImage: 'mambaorg/micromamba:2.1.1' }).dockerfile,
      condaDockerfile(rnaseq, { baseImage: 'debian:12' }).dockerfile,
      condaDockerfile(rnaseq, { basePackages: [] }).dockerfile,
      condaDockerfile(rnaseq, { platform: 'linux/amd64' }).dockerfile,
      condaDockerfile({ ...rnaseq, variables: { A: '1' } }).dockerfile,
    ];
    assert.equal(new Set(variants).size, variants.length);
    assert.notEqual(condaDockerfile(rnaseq).environmentFile, condaDockerfile({ ...rnaseq, dependencies: ['python=3.12'] }).environmentFile);
  });

  it('omits the base-package step when there are none and quotes specs with shell syntax', () => {
    assert.doesNotMatch(condaDockerfile(rnaseq, { basePackages: [] }).dockerfile, /procps-ng|install -y -n base [^-]/);
    const { dockerfile } = condaDockerfile(rnaseq, { basePackages: ['procps-ng', 'numpy>=1.2,<2', "numpy[version='>=1.2']", 'tini 0.19.*'] });
    assert.match(dockerfile, /^ {4}&& micromamba install -y -n base procps-ng 'numpy>=1\.2,<2' 'numpy\[version='\\''>=1\.2'\\''\]' 'tini 0\.19\.\*' \\$/m);
  });

  it('escapes variables for Dockerfile ENV: backslash, double quote and $', () => {
    const { dockerfile } = condaDockerfile({ channels: [], dependencies: ['numpy'], pip: [], variables: { B: 'a\\b "c" $HOME ${X}', A: "it's" } });
    assert.ok(dockerfile.endsWith('ENV PATH="/opt/conda/bin:$PATH"\nENV A="it\'s"\nENV B="a\\\\b \\"c\\" \\$HOME \\${X}"\n'), dockerfile);
  });

  it('accepts image references as docker and buildah write them', () => {
    for (const image of [
      'ubuntu',
      'ubuntu:24.04',
      'library/ubuntu:24.04',
      'localhost:5000/admin/base:1',
      '127.0.0.1:5000/ws/tools/micromamba:1.5.10-noble',
      `ghcr.io/org/image@sha256:${'a'.repeat(64)}`,
      `quay.io/org/image:tag@sha256:${'b'.repeat(64)}`,
      'docker.io/mambaorg/micromamba:1.5.10-noble',
    ]) {
      assert.match(condaDockerfile(rnaseq, { baseImage: image }).dockerfile, new RegExp(`^FROM ${image.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    }
  });

  it('refuses options that would break or inject into the Dockerfile', () => {
    const cases: Array<[CondaDockerfileOptions, RegExp]> = [
      [{ mambaImage: 'ubuntu:24.04\nRUN rm -rf /' }, /condaOpts\.mambaImage "ubuntu:24\.04\nRUN rm -rf \/" is not a valid image reference/],
      [{ baseImage: 'ubuntu 24.04' }, /condaOpts\.baseImage "ubuntu 24\.04" is not a valid image reference/],
      [{ baseImage: 'Ubuntu:24.04' }, /condaOpts\.baseImage/],
      [{ baseImage: '' }, /condaOpts\.baseImage "" is not a valid image reference/],
      [{ mambaImage: 'image:tag@sha256:short' }, /condaOpts\.mambaImage/],
      [{ platform: 'linux/amd64 AS x' }, /containerPlatform "linux\/amd64 AS x" is not a valid platform/],
      [{ platform: 'amd64' }, /is not a valid platform \(expected os\/arch\[\/variant\]/],
      [{ basePackages: ['procps-ng', 'bad;rm'] }, /^condaOpts\.basePackages\[1\] "bad;rm" is not a valid conda match spec: illegal character ";"/],
      [{ basePackages: [''] }, /^condaOpts\.basePackages\[0\] "" is not a valid conda match spec: it is empty$/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => condaDockerfile(rnaseq, options), (error: unknown) => {
        assert.ok(error instanceof CondaDockerfileError, `options ${JSON.stringify(options)} threw ${String(error)}`);
        assert.match(error.message, message);
        return true;
      }, `options ${JSON.stringify(options)} were accepted`);
    }
  });
});

describe('extractCondaLock', () => {
  const lock = '# platform: linux-64\n@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-0.conda';

  it('finds the lock between the marker lines, ignoring the echoed RUN command that mentions them', () => {
    const log = [
      'STEP 3/6: RUN micromamba install -y -n base -f /tmp/environment.yml && echo ">> CONDA_LOCK_START" && cat /tmp/environment.lock && echo "<< CONDA_LOCK_END"',
      'Transaction finished',
      condaLockStartMarker,
      lock,
      condaLockEndMarker,
      'STEP 4/6: FROM ubuntu:24.04',
    ].join('\n');
    assert.equal(extractCondaLock(log), lock);
    assert.equal(extractCondaLock(log.replaceAll('\n', '\r\n')), lock);
  });

  it('returns null when the build stopped before printing a complete lock', () => {
    assert.equal(extractCondaLock('STEP 3/6: RUN micromamba install …\nerror: could not solve\n'), null);
    assert.equal(extractCondaLock(`${condaLockStartMarker}\n@EXPLICIT\n`), null);
    assert.equal(extractCondaLock(''), null);
  });
});

/**
 * The rendered Dockerfile run by a real buildah. The builder stage uses a stand-in image whose
 * `micromamba` is a shell script recording its arguments, because the real conda solve needs the
 * internet; everything else (parsing, COPY, shell quoting, ENV escaping, the log markers) is real.
 */
describe('condaDockerfile built by buildah (stand-in micromamba: the real conda solve needs the internet)', () => {
  let storage: ContainerStorage;
  const baseImage = 'localhost/berth-test/busybox:1';
  const mambaImage = 'localhost/berth-test/micromamba-standin:1';
  const targetImage = 'localhost/berth-test/conda-env:1';
  const basePackages = ['conda-forge::procps-ng', "numpy[version='>=1.2,<2']"];
  let buildLog = '';
  let rendered: ReturnType<typeof condaDockerfile>;

  const standInMicromamba = [
    '#!/bin/sh',
    '# Records what the template asks micromamba to do; prints a lock file like `env export --explicit`.',
    'set -e',
    'prefix=/opt/conda',
    'case "$1" in',
    '  install)',
    '    mkdir -p "$prefix/bin" "$prefix/pkgs"',
    '    echo install >> "$prefix/calls.txt"',
    '    for argument in "$@"; do echo "  [$argument]" >> "$prefix/calls.txt"; done',
    '    previous=""',
    '    for argument in "$@"; do',
    '      if [ "$previous" = "-f" ]; then cp "$argument" "$prefix/environment.yml"; fi',
    '      previous="$argument"',
    '    done',
    '    touch "$prefix/pkgs/cached-package.conda"',
    '    ;;',
    '  env) printf "# platform: linux-64\\n@EXPLICIT\\nhttps://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-0.conda\\n" ;;',
    '  clean) rm -rf "$prefix/pkgs"; echo clean >> "$prefix/calls.txt" ;;',
    '  *) echo "stand-in micromamba: unexpected $*" >&2; exit 2 ;;',
    'esac',
    '',
  ].join('\n');

  before(async () => {
    storage = await ContainerStorage.create('conda-template');
    const baseContext = await writeBusyboxContext(storage.path('base'), 'conda test base');
    await storage.buildah(['bud', '--isolation=chroot', '-t', baseImage, baseContext]);

    const standInContext = storage.path('standin');
    await mkdir(standInContext);
    await writeFile(join(standInContext, 'micromamba'), standInMicromamba);
    await chmod(join(standInContext, 'micromamba'), 0o755);
    await writeFile(join(standInContext, 'Dockerfile'), `FROM ${baseImage}\nCOPY micromamba /bin/micromamba\n`);
    await storage.buildah(['bud', '--isolation=chroot', '--pull-never', '-t', mambaImage, standInContext]);

    rendered = condaDockerfile(studio, { mambaImage, baseImage, basePackages });
    const context = storage.path('conda');
    await mkdir(context);
    await writeFile(join(context, 'Dockerfile'), rendered.dockerfile);
    await writeFile(join(context, condaEnvironmentFileName), rendered.environmentFile);
    const build = await storage.buildah(['bud', '--isolation=chroot', '--pull-never', '-t', targetImage, context]);
    buildLog = build.stdout + build.stderr;
  });

  after(async () => {
    await storage?.remove();
  });

  /** Runs a command in a fresh working container of the built image. */
  const runInImage = async (command: string[]): Promise<string> => {
    const container = (await storage.buildah(['from', '--pull-never', targetImage])).stdout.trim();
    try {
      return (await storage.buildah(['run', '--isolation=chroot', container, '--', ...command])).stdout;
    } finally {
      await storage.buildah(['rm', container]);
    }
  };

  it('prints the lock file between the markers in the build log', () => {
    assert.equal(extractCondaLock(buildLog), '# platform: linux-64\n@EXPLICIT\nhttps://conda.anaconda.org/conda-forge/linux-64/python-3.11.9-0.conda');
  });

  it('installs the environment file from the build context, then the base packages as exact words, then cleans', async () => {
    assert.equal(await runInImage(['cat', '/opt/conda/environment.yml']), rendered.environmentFile);
    assert.equal(
      await runInImage(['cat', '/opt/conda/calls.txt']),
      [
        'install',
        '  [install]', '  [-y]', '  [-n]', '  [base]', '  [-f]', '  [/tmp/environment.yml]',
        'install',
        '  [install]', '  [-y]', '  [-n]', '  [base]', '  [conda-forge::procps-ng]', "  [numpy[version='>=1.2,<2']]",
        'clean',
        '',
      ].join('\n'),
    );
    assert.equal(await runInImage(['ls', '/opt/conda']), 'bin\ncalls.txt\nenvironment.yml\n');
  });

  it('ends on the base image with conda first on PATH and the variables set exactly', async () => {
    const environment = await runInImage(['/bin/env']);
    const variables = Object.fromEntries(environment.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    assert.equal(variables.PATH, '/opt/conda/bin:/bin');
    assert.equal(variables.MAMBA_ROOT_PREFIX, '/opt/conda');
    assert.equal(variables.PROMPT, 'study "A" costs $5');
    assert.equal(variables.OMP_NUM_THREADS, '4');
    assert.equal((await runInImage(['cat', '/marker.txt'])).trim(), 'conda test base');
    await assert.rejects(runInImage(['ls', '/bin/micromamba']), /exited 1/, 'the stand-in builder tool stays in the builder stage');
  });
});

