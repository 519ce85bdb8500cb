import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultPrefixFor } from '../../../src/toolbox/ecr/ecr-support.ts';
import { defaultPullThroughPrefixes } from '../../../src/toolbox/map/image-mapping.ts';
import { generateRegistryMapOperation, mapOperations } from '../../../src/toolbox/map/map-operations.ts';
import { generateRegistryMap, registryMapInput, type RegistryMapResult } from '../../../src/toolbox/map/registry-map.ts';
import { ToolboxError } from '../../../src/toolbox/toolbox-operation.ts';
import { workflowFiles, writeWorkflowFolder } from './workflow-fixtures.ts';

const mirror = 'berth.example.org/genomics';
const local = { localFiles: true };
const api = { localFiles: false };
const asFiles = (files: Record<string, string>) => Object.entries(files).map(([path, content]) => ({ path, content }));
const run = (input: Record<string, unknown>, context = api) => generateRegistryMap(registryMapInput.parse(input), context);

const expectedFlatMap = {
  'docker.io/broadinstitute/gatk:4.5.0.0': `${mirror}/docker-hub/broadinstitute/gatk:4.5.0.0`,
  'docker.io/continuumio/miniconda3:4.4.10': `${mirror}/docker-hub/continuumio/miniconda3:4.4.10`,
  'docker.io/library/debian:12-slim': `${mirror}/docker-hub/library/debian:12-slim`,
  'docker.io/library/golang:1.22': `${mirror}/docker-hub/library/golang:1.22`,
  'docker.io/library/python:3.12-slim': `${mirror}/docker-hub/library/python:3.12-slim`,
  'ghcr.io/seqeralabs/trimgalore:0.6.10': `${mirror}/github-container-registry/seqeralabs/trimgalore:0.6.10`,
  'ghcr.io/snakemake/plotting:2.1': `${mirror}/github-container-registry/snakemake/plotting:2.1`,
  'public.ecr.aws/biocontainers/samtools:1.19': `${mirror}/ecr-public/biocontainers/samtools:1.19`,
  'quay.io/biocontainers/bwa:0.7.17--hed695b0_7': `${mirror}/quay/biocontainers/bwa:0.7.17--hed695b0_7`,
  'quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0': `${mirror}/quay/biocontainers/fastqc:0.12.1--hdfd78af_0`,
  'quay.io/biocontainers/samtools:1.19--h50ea8bc_0': `${mirror}/quay/biocontainers/samtools:1.19--h50ea8bc_0`,
  'quay.io/multiqc/multiqc:v1.21': `${mirror}/quay/multiqc/multiqc:v1.21`,
  'quay.io/ubuntu:22.04': `${mirror}/quay/ubuntu:22.04`,
  'registry.example.org:5000/tools/fastp:0.23.4': `${mirror}/tools/fastp:0.23.4`,
};

/** Every reference of the fixture: where, which language, as written, and where it goes. */
const expectedReferences = [
  'cwl/fastp.cwl:7:22 cwl registry.example.org:5000/tools/fastp:0.23.4 -> clone',
  'cwl/samtools-sort.cwl:7:18 cwl quay.io/biocontainers/samtools:1.19--h50ea8bc_0 -> pull-through',
  'docker/Dockerfile:4:32 dockerfile golang:1.22 -> pull-through',
  'docker/Dockerfile:8:6 dockerfile python:3.12-slim -> pull-through',
  'main.nf:19:16 nextflow ghcr.io/seqeralabs/trimgalore:0.6.10 -> pull-through',
  'modules/nf-core/fastqc/main.nf:8:10 nextflow biocontainers/fastqc:0.12.1--hdfd78af_0 -> pull-through',
  'nextflow.config:14:21 nextflow multiqc/multiqc:v1.21 -> pull-through',
  'nextflow.config:17:22 nextflow ubuntu:22.04 -> pull-through',
  'nextflow.config:20:22 nextflow docker.io/library/debian:12-slim -> pull-through',
  'snakemake/Snakefile:3:22 snakemake continuumio/miniconda3:4.4.10 -> pull-through',
  'snakemake/Snakefile:20:9 snakemake quay.io/biocontainers/bwa:0.7.17--hed695b0_7 -> pull-through',
  'snakemake/Snakefile:27:26 snakemake ghcr.io/snakemake/plotting:2.1 -> pull-through',
  'wdl/align.wdl:29:17 wdl quay.io/biocontainers/bwa:0.7.17--hed695b0_7 -> pull-through',
  'wdl/align.wdl:47:17 wdl broadinstitute/gatk:4.5.0.0 -> pull-through',
  'wdl/align.wdl:58:22 wdl public.ecr.aws/biocontainers/samtools:1.19 -> pull-through',
  'wdl/align.wdl:58:68 wdl quay.io/biocontainers/samtools:1.19--h50ea8bc_0 -> pull-through',
];

function describeReferences(result: RegistryMapResult): string[] {
  return result.references.map((r) => {
    assert.equal((result.map as Record<string, string>)[r.normalized] ?? r.target, r.target);
    return `${r.file}:${r.line}:${r.column} ${r.language} ${r.source} -> ${r.via}`;
  });
}

describe('generateRegistryMap', () => {
  it('maps every reference of a workflow in the four languages and Dockerfiles: the flat map', async () => {
    const result = await run({ files: asFiles(workflowFiles), registry: mirror, format: 'flat' });
    assert.equal(result.format, 'flat');
    assert.deepEqual(result.map, expectedFlatMap);
    assert.deepEqual(Object.keys(result.map), Object.keys(expectedFlatMap).sort());
    assert.deepEqual(describeReferences(result), expectedReferences);
    for (const reference of result.references) assert.equal(reference.target, expectedFlatMap[reference.normalized as keyof typeof expectedFlatMap]);
    assert.deepEqual(result.problems, []);
    assert.deepEqual(result.skipped, [
      {
        file: 'modules/nf-core/fastqc/main.nf',
        line: 7,
        text: 'https://depot.galaxyproject.org/singularity/fastqc:0.12.1--hdfd78af_0',
        reason: 'a https:// URL, pulled by Singularity/Apptainer, not from a registry',
      },
      { file: 'snakemake/Snakefile', line: 33, text: 'shub://vsoch/hello-world', reason: 'a shub:// URL, pulled by Singularity/Apptainer, not from a registry' },
    ]);
    assert.equal(result.rewritten, undefined);
  });

  it('writes the HealthOmics container registry map: registry mappings for pull-through, image mappings for clones', async () => {
    const berth = await run({ files: asFiles(workflowFiles), registry: mirror, format: 'healthomics' });
    assert.deepEqual(berth.map, {
      registryMappings: [
        { upstreamRegistryUrl: 'registry-1.docker.io', ecrRepositoryPrefix: 'genomics/docker-hub' },
        { upstreamRegistryUrl: 'ghcr.io', ecrRepositoryPrefix: 'genomics/github-container-registry' },
        { upstreamRegistryUrl: 'public.ecr.aws', ecrRepositoryPrefix: 'genomics/ecr-public' },
        { upstreamRegistryUrl: 'quay.io', ecrRepositoryPrefix: 'genomics/quay' },
      ],
      imageMappings: [{ sourceImage: 'registry.example.org:5000/tools/fastp:0.23.4', destinationImage: `${mirror}/tools/fastp:0.23.4` }],
    });
    assert.deepEqual(describeReferences(berth), expectedReferences);

    // At the root of an Amazon ECR registry, the account comes from the host.
    const ecr = '123456789012.dkr.ecr.eu-west-2.amazonaws.com';
    const amazon = await run({ files: asFiles(workflowFiles), registry: ecr, format: 'healthomics', prefixes: { 'docker.io': 'docker-hub', 'quay.io': 'quay' } });
    assert.deepEqual(amazon.map, {
      registryMappings: [
        { upstreamRegistryUrl: 'registry-1.docker.io', ecrRepositoryPrefix: 'docker-hub', ecrAccountId: '123456789012' },
        { upstreamRegistryUrl: 'quay.io', ecrRepositoryPrefix: 'quay', ecrAccountId: '123456789012' },
      ],
      imageMappings: [
        { sourceImage: 'ghcr.io/seqeralabs/trimgalore:0.6.10', destinationImage: `${ecr}/seqeralabs/trimgalore:0.6.10` },
        { sourceImage: 'ghcr.io/snakemake/plotting:2.1', destinationImage: `${ecr}/snakemake/plotting:2.1` },
        { sourceImage: 'public.ecr.aws/biocontainers/samtools:1.19', destinationImage: `${ecr}/biocontainers/samtools:1.19` },
        { sourceImage: 'registry.example.org:5000/tools/fastp:0.23.4', destinationImage: `${ecr}/tools/fastp:0.23.4` },
      ],
    });
  });

  it('uses the prefixes given instead of the defaults; none at all maps everything to its cloned location', async () => {
    const files = asFiles({ 'Dockerfile': 'FROM ubuntu:22.04\nFROM quay.io/org/tool@sha256:' + 'a'.repeat(64) + '\n' });
    const custom = await run({ files, registry: '127.0.0.1:8080/admin', format: 'flat', prefixes: { 'registry-1.docker.io': 'hub' } });
    assert.deepEqual(custom.map, {
      'docker.io/library/ubuntu:22.04': '127.0.0.1:8080/admin/hub/library/ubuntu:22.04',
      [`quay.io/org/tool@sha256:${'a'.repeat(64)}`]: `127.0.0.1:8080/admin/org/tool@sha256:${'a'.repeat(64)}`,
    });
    assert.deepEqual(custom.references.map((r) => r.via), ['pull-through', 'clone']);
    const none = await run({ files, registry: '127.0.0.1:8080/admin', format: 'flat', prefixes: {} });
    assert.deepEqual(Object.values(none.map), ['127.0.0.1:8080/admin/library/ubuntu:22.04', `127.0.0.1:8080/admin/org/tool@sha256:${'a'.repeat(64)}`]);
  });

  it('rejects what it cannot work with as INVALID_INPUT, and reports a reference that is not an image as a problem', async () => {
    const rejects = async (input: Record<string, unknown>, context: { localFiles: boolean }, pattern: RegExp) => {
      await assert.rejects(run(input, context), (error: unknown) => error instanceof ToolboxError && error.code === 'INVALID_INPUT' && pattern.test(error.message));
    };
    await rejects({ workflowDir: '/tmp', registry: mirror }, api, /the API has no access to your files/);
    await rejects({ registry: mirror }, local, /either workflowDir .* or files/);
    await rejects({ files: [], workflowDir: '/tmp', registry: mirror }, local, /not both/);
    await rejects({ files: [{ path: '../etc/Dockerfile', content: 'FROM x' }], registry: mirror }, api, /relative to the workflow folder/);
    await rejects({ files: [], registry: 'https://bad host/ws' }, api, /must be HOST or HOST\/WORKSPACE/);
    await rejects({ files: [], registry: 'host.example/Bad_Workspace' }, api, /is not a repository path/);
    await rejects({ files: [], registry: mirror, prefixes: { 'quay.io': 'q' } }, api, /2-30 characters/);

    const result = await run({ files: asFiles({ Dockerfile: 'FROM Ubuntu:Latest!\n' }), registry: mirror });
    assert.deepEqual(result.references, []);
    assert.equal(result.problems.length, 1);
    assert.equal(result.problems[0]!.file, 'Dockerfile');
    assert.equal(result.problems[0]!.line, 1);
    assert.match(result.problems[0]!.message, /is not an image reference/);
  });

  it('uses by default the prefixes `berth ecr pull-through create` gives its rules, so that maps and caches agree', () => {
    for (const [registry, prefix] of Object.entries(defaultPullThroughPrefixes)) assert.equal(prefix, defaultPrefixFor(registry), registry);
  });

  it('offers the operation to the faces under its names, with format flat by default', () => {
    assert.deepEqual(mapOperations, [generateRegistryMapOperation]);
    assert.equal(generateRegistryMapOperation.name, 'generateRegistryMap');
    assert.equal(generateRegistryMapOperation.mcpTool, 'GenerateContainerRegistryMap');
    assert.equal(generateRegistryMapOperation.apiPath, 'map');
    assert.equal(generateRegistryMapOperation.input.parse({ registry: mirror, files: [] }).format, 'flat');
    for (const [field, schema] of Object.entries(generateRegistryMapOperation.input.shape)) assert.ok(schema.description, `${field} is described`);
  });
});

describe('generateRegistryMap --rewrite', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'berth-map-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  /** What each rewritten file must be: the original with exactly these texts replaced, every other byte the same. */
  const expectedEdits: Record<string, Array<[string, string]>> = {
    'nextflow.config': [
      ["'multiqc/multiqc:v1.21'", `'${mirror}/quay/multiqc/multiqc:v1.21'`],
      ['"ubuntu:22.04"', `"${mirror}/quay/ubuntu:22.04"`],
      ["'docker.io/library/debian:12-slim'", `'${mirror}/docker-hub/library/debian:12-slim'`],
    ],
    'modules/nf-core/fastqc/main.nf': [["'biocontainers/fastqc:0.12.1--hdfd78af_0'", `'${mirror}/quay/biocontainers/fastqc:0.12.1--hdfd78af_0'`]],
    'main.nf': [["'ghcr.io/seqeralabs/trimgalore:0.6.10'", `'${mirror}/github-container-registry/seqeralabs/trimgalore:0.6.10'`]],
    'wdl/align.wdl': [
      ['"quay.io/biocontainers/bwa:0.7.17--hed695b0_7"', `"${mirror}/quay/biocontainers/bwa:0.7.17--hed695b0_7"`],
      ['"broadinstitute/gatk:4.5.0.0"', `"${mirror}/docker-hub/broadinstitute/gatk:4.5.0.0"`],
      ['"public.ecr.aws/biocontainers/samtools:1.19"', `"${mirror}/ecr-public/biocontainers/samtools:1.19"`],
      ['"quay.io/biocontainers/samtools:1.19--h50ea8bc_0"', `"${mirror}/quay/biocontainers/samtools:1.19--h50ea8bc_0"`],
    ],
    'cwl/samtools-sort.cwl': [['"quay.io/biocontainers/samtools:1.19--h50ea8bc_0"', `"${mirror}/quay/biocontainers/samtools:1.19--h50ea8bc_0"`]],
    'cwl/fastp.cwl': [['"registry.example.org:5000/tools/fastp:0.23.4"', `"${mirror}/tools/fastp:0.23.4"`]],
    'snakemake/Snakefile': [
      ['"docker://continuumio/miniconda3:4.4.10"', `"docker://${mirror}/docker-hub/continuumio/miniconda3:4.4.10"`],
      ['"docker://quay.io/biocontainers/bwa:0.7.17--hed695b0_7"', `"docker://${mirror}/quay/biocontainers/bwa:0.7.17--hed695b0_7"`],
      ['"docker://ghcr.io/snakemake/plotting:2.1"', `"docker://${mirror}/github-container-registry/snakemake/plotting:2.1"`],
    ],
    'docker/Dockerfile': [
      ['ARG PYTHON_IMAGE=python:3.12-slim', `ARG PYTHON_IMAGE=${mirror}/docker-hub/library/python:3.12-slim`],
      [' golang:1.22 AS build', ` ${mirror}/docker-hub/library/golang:1.22 AS build`],
    ],
  };

  it('rewrites the files in place after backing them up; a second rewrite changes nothing; the rewritten folder maps to itself', async () => {
    const dir = join(scratch, 'workflow');
    await writeWorkflowFolder(dir);
    const first = await run({ workflowDir: dir, registry: mirror, format: 'flat', rewrite: true }, local);
    assert.deepEqual(first.problems, []);
    assert.deepEqual(
      first.rewritten,
      Object.entries(expectedEdits)
        .map(([file, edits]) => ({ file, backup: `${file}.bak`, changes: edits.length }))
        .sort((a, b) => (a.file < b.file ? -1 : 1)),
    );
    for (const [file, edits] of Object.entries(expectedEdits)) {
      const original = workflowFiles[file]!;
      assert.deepEqual(await readFile(join(dir, `${file}.bak`)), Buffer.from(original), `${file}.bak holds the original bytes`);
      let expected = original;
      for (const [from, to] of edits) {
        assert.equal(expected.split(from).length, 2, `${from} occurs once in ${file}`);
        expected = expected.replace(from, to);
      }
      assert.equal(await readFile(join(dir, file), 'utf8'), expected, `${file} changed only in its references`);
    }
    assert.equal(await readFile(join(dir, 'README.md'), 'utf8'), workflowFiles['README.md']);

    const second = await run({ workflowDir: dir, registry: mirror, format: 'flat', rewrite: true }, local);
    assert.deepEqual(second.rewritten, []);
    assert.deepEqual(second.problems, []);
    for (const reference of second.references) assert.equal(reference.target, reference.normalized, `${reference.file}:${reference.line} maps to itself`);
    assert.deepEqual(
      second.map,
      Object.fromEntries(Object.values(expectedFlatMap).sort().map((target) => [target, target])),
    );
    assert.deepEqual(
      second.references.map((r) => r.via),
      describeReferences(first).map((line) => line.split(' -> ')[1]),
    );
    // No backups of backups, no second backups.
    const backups = (await readdir(dir, { recursive: true })).filter((name) => name.endsWith('.bak'));
    assert.equal(backups.length, Object.keys(expectedEdits).length);
    // The HealthOmics map of a folder already on the mirror has nothing left to map.
    assert.deepEqual((await run({ workflowDir: dir, registry: mirror, format: 'healthomics' }, local)).map, { registryMappings: [], imageMappings: [] });
  });

  it('keeps line endings and a byte order mark; refuses to overwrite an existing backup; honours --backup-suffix', async () => {
    const dir = join(scratch, 'crlf');
    const original = '\uFEFF# syntax=docker/dockerfile:1\r\nFROM ubuntu:22.04 AS base\r\nRUN echo "FROM debian:12"\r\n';
    await writeWorkflowFolder(dir, { Dockerfile: original });
    await writeFile(join(dir, 'Dockerfile.bak'), 'an older backup');
    await assert.rejects(run({ workflowDir: dir, registry: mirror, rewrite: true }, local), (error: unknown) => error instanceof ToolboxError && error.code === 'CONFLICT');
    assert.equal(await readFile(join(dir, 'Dockerfile'), 'utf8'), original, 'nothing written when a backup is in the way');

    const result = await run({ workflowDir: dir, registry: mirror, rewrite: true, backupSuffix: '.orig' }, local);
    assert.deepEqual(result.rewritten, [{ file: 'Dockerfile', backup: 'Dockerfile.orig', changes: 1 }]);
    assert.deepEqual(await readFile(join(dir, 'Dockerfile.orig')), Buffer.from(original));
    assert.equal(await readFile(join(dir, 'Dockerfile'), 'utf8'), original.replace('ubuntu:22.04', `${mirror}/docker-hub/library/ubuntu:22.04`));
  });

  it('returns rewritten contents for files sent as content, writing nothing; reports references it cannot rewrite', async () => {
    const files = {
      'main.nf': 'process A {\n    container "quay.io/org/tool:${params.version}"\n}\n',
      'nextflow.config': "params.version = '1.0'\n",
      'Dockerfile': 'ARG VERSION=22.04\nFROM ubuntu:${VERSION}\nFROM debian:12\n',
    };
    const result = await run({ files: asFiles(files), registry: mirror, rewrite: true });
    assert.deepEqual(result.rewritten, [{ file: 'Dockerfile', changes: 1, content: `ARG VERSION=22.04\nFROM ubuntu:\${VERSION}\nFROM ${mirror}/docker-hub/library/debian:12\n` }]);
    assert.deepEqual(
      result.problems.map((p) => `${p.file}:${p.line}: ${p.message}`),
      [
        `Dockerfile:2: not rewritten: "ubuntu:22.04" is not written as one piece of text (it is put together from variables, or split across lines); change it by hand to name ${mirror}/docker-hub/library/ubuntu:22.04`,
        `main.nf:2: not rewritten: "quay.io/org/tool:1.0" is not written as one piece of text (it is put together from variables, or split across lines); change it by hand to name ${mirror}/quay/org/tool:1.0`,
      ],
    );
  });

  it('reports files it cannot read with file and line, and maps the rest', async () => {
    const dir = join(scratch, 'broken');
    await writeWorkflowFolder(dir, {
      'tools/broken.cwl': 'cwlVersion: v1.2\nclass: CommandLineTool\nhints: [\n',
      'main.nf': "process A {\n    container 'ubuntu:22.04'\n}\nprocess B {\n    container \"debian:12\n}\n",
      'good.wdl': 'version 1.0\ntask t {\n  command <<< true >>>\n  runtime { docker: "ubuntu:22.04" }\n}\n',
      'work/ab/123456/.command.run': 'ignored',
    });
    await writeFile(join(dir, 'binary.cwl'), Buffer.from([0xff, 0xfe, 0x00, 0x41]));
    const result = await run({ workflowDir: dir, registry: mirror }, local);
    assert.deepEqual(result.references.map((r) => `${r.file}:${r.line}`), ['good.wdl:4']);
    assert.deepEqual(
      result.problems.map((p) => `${p.file}:${p.line}`),
      ['binary.cwl:1', 'main.nf:5', 'tools/broken.cwl:3'],
    );
    assert.match(result.problems[0]!.message, /not UTF-8/);
    assert.match(result.problems[1]!.message, /unterminated string/);
  });
});
