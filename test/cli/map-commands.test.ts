import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from '../support/processes.ts';
import { workflowFiles, writeWorkflowFolder } from '../toolbox/map/workflow-fixtures.ts';

const cli = new URL('../../bin/berth.js', import.meta.url).pathname;
const mirror = '127.0.0.1:8080/admin';

describe('berth map', () => {
  let scratch: string;
  // No Berth server: maps are made on this machine. BERTH_URL/TOKEN point nowhere to prove it.
  const berthMap = (args: string[]) =>
    run(process.execPath, [cli, 'map', ...args], { cwd: scratch, env: { ...process.env, BERTH_URL: 'http://127.0.0.1:9', BERTH_TOKEN: 'unused' }, allowFailure: true });

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'berth-map-cli-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('writes the flat map to --out and a summary per language on standard error', async () => {
    const dir = join(scratch, 'flat');
    await writeWorkflowFolder(dir);
    const out = join(scratch, 'map.json');
    const result = await berthMap([dir, '--registry', mirror, '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    const map = JSON.parse(await readFile(out, 'utf8')) as Record<string, string>;
    assert.equal(Object.keys(map).length, 14);
    assert.equal(map['quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0'], `${mirror}/quay/biocontainers/fastqc:0.12.1--hdfd78af_0`);
    assert.equal(map['docker.io/library/python:3.12-slim'], `${mirror}/docker-hub/library/python:3.12-slim`);
    assert.equal(map['registry.example.org:5000/tools/fastp:0.23.4'], `${mirror}/tools/fastp:0.23.4`);
    assert.match(result.stderr, /^16 container references \(cwl 2, dockerfile 2, nextflow 5, snakemake 3, wdl 4\): 15 through pull-through caches, 1 to clone$/m);
    assert.match(result.stderr, new RegExp(`^  berth clone registry.example.org:5000/tools/fastp:0.23.4 ${mirror}/tools/fastp:0.23.4$`, 'm'));
    assert.match(result.stderr, /^  modules\/nf-core\/fastqc\/main.nf:7: https:\/\/depot.galaxyproject.org\/singularity\/fastqc:0.12.1--hdfd78af_0 /m);
    assert.match(result.stderr, new RegExp(`^map written to ${out}$`, 'm'));
  });

  it('prints the HealthOmics map on standard output, or the whole result with --json', async () => {
    const dir = join(scratch, 'healthomics');
    await writeWorkflowFolder(dir);
    const printed = await berthMap([dir, '--registry', mirror, '--format', 'healthomics', '--prefixes', 'docker.io=docker-hub,quay.io=quay']);
    assert.equal(printed.code, 0, printed.stderr);
    const map = JSON.parse(printed.stdout) as { registryMappings: unknown[]; imageMappings: Array<{ sourceImage: string }> };
    assert.deepEqual(map.registryMappings, [
      { upstreamRegistryUrl: 'registry-1.docker.io', ecrRepositoryPrefix: 'admin/docker-hub' },
      { upstreamRegistryUrl: 'quay.io', ecrRepositoryPrefix: 'admin/quay' },
    ]);
    assert.deepEqual(map.imageMappings.map((m) => m.sourceImage), [
      'ghcr.io/seqeralabs/trimgalore:0.6.10',
      'ghcr.io/snakemake/plotting:2.1',
      'public.ecr.aws/biocontainers/samtools:1.19',
      'registry.example.org:5000/tools/fastp:0.23.4',
    ]);

    const json = await berthMap([dir, '--registry', mirror, '--json']);
    assert.equal(json.code, 0, json.stderr);
    const result = JSON.parse(json.stdout) as { format: string; references: Array<{ file: string; line: number; language: string }>; problems: unknown[] };
    assert.equal(result.format, 'flat');
    assert.equal(result.references.length, 16);
    assert.deepEqual(result.references[0], {
      file: 'cwl/fastp.cwl',
      line: 7,
      column: 22,
      language: 'cwl',
      source: 'registry.example.org:5000/tools/fastp:0.23.4',
      normalized: 'registry.example.org:5000/tools/fastp:0.23.4',
      target: `${mirror}/tools/fastp:0.23.4`,
      via: 'clone',
    });
  });

  it('--rewrite points the files at the mirror with backups; run again, it has nothing to change', async () => {
    const dir = join(scratch, 'rewrite');
    await writeWorkflowFolder(dir);
    const first = await berthMap([dir, '--registry', mirror, '--rewrite', '--out', join(scratch, 'rewrite-map.json')]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /^rewrote 8 files:$/m);
    assert.match(first.stderr, /^  wdl\/align.wdl \(4 references; original in wdl\/align.wdl.bak\)$/m);
    assert.equal(await readFile(join(dir, 'wdl/align.wdl.bak'), 'utf8'), workflowFiles['wdl/align.wdl']);
    assert.match(await readFile(join(dir, 'wdl/align.wdl'), 'utf8'), new RegExp(`String bwa_docker = "${mirror}/quay/biocontainers/bwa:0.7.17--hed695b0_7"`));

    const second = await berthMap([dir, '--registry', mirror, '--rewrite']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /^16 container references .*: 0 through pull-through caches, 0 to clone, 16 already on the mirror$/m);
    assert.match(second.stderr, /^rewrite: nothing to change$/m);
    const map = JSON.parse(second.stdout) as Record<string, string>;
    for (const [source, target] of Object.entries(map)) assert.equal(target, source);
  });

  it('reports problems with file:line; the exit code is 1 only with --strict; bad input exits 1 and usage errors 2', async () => {
    const dir = join(scratch, 'problems');
    await writeWorkflowFolder(dir, { 'main.nf': "process A {\n    container params.image\n}\nprocess B {\n    container 'ubuntu:22.04'\n}\n" });
    const lenient = await berthMap([dir, '--registry', mirror]);
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(lenient.stderr, /^1 problem:\n  main.nf:2: cannot resolve the container "params.image": params.image has no default in the workflow's files$/m);
    assert.deepEqual(JSON.parse(lenient.stdout), { 'docker.io/library/ubuntu:22.04': `${mirror}/docker-hub/library/ubuntu:22.04` });

    const strict = await berthMap([dir, '--registry', mirror, '--strict']);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /main.nf:2: cannot resolve/);

    const missing = await berthMap([join(scratch, 'no-such-folder'), '--registry', mirror]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^berth map: .*no-such-folder is not a directory$/m);

    const badRegistry = await berthMap([dir, '--registry', 'not a host']);
    assert.equal(badRegistry.code, 1);
    assert.match(badRegistry.stderr, /must be HOST or HOST\/WORKSPACE/);

    const usage = await berthMap([dir, '--registry', mirror, '--prefixes', 'quay.io']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /"quay.io" is not REGISTRY=PREFIX/);
    const noRegistry = await berthMap([dir]);
    assert.equal(noRegistry.code, 2);
  });
});
