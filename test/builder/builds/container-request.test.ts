import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ContainerRequestError, parseContainerRequest, type ContainerRequest } from '../../../src/builder/builds/container-request.ts';

const limits = { maxDockerfileBytes: 10 * 1024, maxCondaFileBytes: 50 * 1024, defaultPlatform: 'linux/amd64' };
const b64 = (text: string) => Buffer.from(text).toString('base64');
const parse = (body: unknown) => parseContainerRequest(body, limits);

function rejects(body: unknown, message: string | RegExp): void {
  assert.throws(
    () => parse(body),
    (error: unknown) => {
      assert.ok(error instanceof ContainerRequestError, `expected a ContainerRequestError, got ${String(error)}`);
      if (typeof message === 'string') assert.equal(error.message, message);
      else assert.match(error.message, message);
      return true;
    },
  );
}

function asBuild(request: ContainerRequest) {
  assert.equal(request.kind, 'build');
  return request as Extract<ContainerRequest, { kind: 'build' }>;
}

describe('container requests (Wave POST /v1alpha2/container bodies)', () => {
  it('a Dockerfile request decodes containerFile and defaults the platform', () => {
    const request = asBuild(parse({ containerFile: b64('FROM busybox\nRUN true\n') }));
    assert.equal(request.build.dockerfile, 'FROM busybox\nRUN true\n');
    assert.equal(request.build.platform, 'linux/amd64');
    assert.equal(request.freeze, false);
  });

  it('an image without freeze needs no build; with freeze it becomes FROM <image>', () => {
    assert.deepEqual(parse({ containerImage: 'ubuntu:24.04' }), {
      kind: 'image',
      containerImage: 'ubuntu:24.04',
      platform: 'linux/amd64',
      freeze: false,
      nameStrategy: undefined,
      buildRepository: undefined,
      cacheRepository: undefined,
      dryRun: false,
    });
    const frozen = asBuild(parse({ containerImage: 'ubuntu:24.04', freeze: true, buildRepository: 'h/ws/r' }));
    assert.equal(frozen.build.dockerfile, 'FROM ubuntu:24.04\n');
  });

  it('conda packages become the micromamba Dockerfile with environment.yml as the context', () => {
    const request = asBuild(parse({ packages: { type: 'CONDA', entries: ['samtools=1.19', 'bioconda::bwa'], channels: ['conda-forge', 'bioconda'] } }));
    assert.match(request.build.dockerfile, /micromamba/);
    assert.ok(request.build.condaFile?.includes('samtools=1.19'));
    assert.deepEqual(
      request.build.context?.files.map((file) => file.path),
      ['environment.yml'],
    );
    assert.match(request.build.context!.digest, /^sha256:[0-9a-f]{64}$/);
  });

  it("Wave's validation messages, word for word", () => {
    rejects({ containerFile: b64('FROM a'), packages: { type: 'CONDA', entries: ['x'] } }, 'Attribute `containerFile` and `packages` conflicts each other');
    rejects({ containerImage: 'ubuntu', freeze: true }, 'Attribute `buildRepository` must be specified when using freeze mode');
    rejects({ containerFile: b64('FROM a'), freeze: true }, 'Attribute `buildRepository` must be specified when using freeze mode');
    rejects({}, "Specify either 'containerImage' or 'containerFile' attribute");
    rejects({ containerImage: 'a', containerFile: b64('FROM a') }, "Attributes 'containerImage' and 'containerFile' cannot be used in the same request");
    rejects({ condaFile: b64('dependencies: [x]') }, 'Attribute `condaFile` is deprecated - use `packages` instead');
    rejects({ containerFile: b64('FROM a'), nameStrategy: 'fancy' }, "Unsupported image naming strategy: 'fancy'");
    rejects({ containerFile: '%%%not base64' }, "Invalid 'containerFile' attribute - make sure it encoded as a base64 string");
    rejects({ containerFile: b64('FROM a\nCOPY /root/.docker/config.json /x\n') }, 'Provided container file is not allowed (error code: 100)');
  });

  it('size limits: a Dockerfile over 10 kB, a conda file over 50 kB', () => {
    rejects({ containerFile: b64(`FROM a\n# ${'x'.repeat(10 * 1024)}\n`) }, 'Container file exceeds the maximum allowed size of 10240 bytes');
    const big = `dependencies:\n${Array.from({ length: 6000 }, (_, i) => `  - package${i}=1.0\n`).join('')}`;
    rejects({ packages: { type: 'CONDA', environment: b64(big) } }, /Conda file size exceeds the maximum allowed size of 51200 bytes/);
  });

  it('an invalid environment.yml is named line by line', () => {
    const text = ['channels: [conda-forge]', 'dependencies:', '  - samtools=1.19', '  - "bad spec ]["', 'colour: blue', ''].join('\n');
    assert.throws(
      () => parse({ packages: { type: 'CONDA', environment: b64(text) } }),
      (error: Error) => error instanceof ContainerRequestError && /line 4/.test(error.message) && /line 5/.test(error.message),
    );
    rejects({ packages: { type: 'CONDA', environment: b64('dependencies: [a\n') } }, /Invalid conda environment file:\nline \d+: invalid YAML/);
  });

  it('bad platforms, formats and types are refused clearly', () => {
    rejects({ containerFile: b64('FROM a'), containerPlatform: 'linux' }, "Unsupported container platform 'linux'");
    rejects({ containerFile: b64('FROM a'), format: 'sif' }, /Unsupported container format 'sif'/);
    rejects({ containerFile: 42 }, /Invalid request attribute `containerFile`/);
    rejects({ packages: { type: 'SPACK', entries: ['x'] } }, "Unsupported packages type 'SPACK' - only CONDA is supported");
  });
});
