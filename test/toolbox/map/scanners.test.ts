import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cwlScanner } from '../../../src/toolbox/map/cwl-scanner.ts';
import { dockerfileScanner } from '../../../src/toolbox/map/dockerfile-scanner.ts';
import { nextflowScanner } from '../../../src/toolbox/map/nextflow-scanner.ts';
import type { ScanResult, WorkflowFile, WorkflowScanner } from '../../../src/toolbox/map/scan-results.ts';
import { snakemakeScanner } from '../../../src/toolbox/map/snakemake-scanner.ts';
import { wdlScanner } from '../../../src/toolbox/map/wdl-scanner.ts';

function scan(scanner: WorkflowScanner, files: Record<string, string>): ScanResult {
  const list: WorkflowFile[] = Object.entries(files).map(([path, content]) => ({ path, content }));
  for (const file of list) assert.ok(scanner.matches(file.path), `${scanner.language} reads ${file.path}`);
  return scanner.scan(list);
}

/** `file:line:column image [default registry]`, and the span's text checked against the file it points into. */
function found(result: ScanResult, files: Record<string, string>): string[] {
  return result.references.map((r) => {
    if (r.span) assert.equal(files[r.span.file]!.slice(r.span.start, r.span.end), r.image, `span of ${r.image}`);
    return `${r.file}:${r.line}:${r.column} ${r.image}${r.defaultRegistry ? ` [${r.defaultRegistry}]` : ''}${r.span ? '' : ' (no span)'}`;
  });
}

function problems(result: ScanResult): string[] {
  return result.problems.map((p) => `${p.file}:${p.line}: ${p.message}`);
}

describe('Nextflow scanner', () => {
  it('takes the docker branch of an nf-core ternary and notes the Singularity URL; comments and scripts are not directives', () => {
    const files = {
      'modules/nf-core/samtools/sort/main.nf': [
        'process SAMTOOLS_SORT {',
        "    label 'process_medium'",
        '    container "${ workflow.containerEngine == \'singularity\' && !task.ext.singularity_pull_docker_container ?',
        "        'https://depot.galaxyproject.org/singularity/samtools:1.19.2--h50ea8bc_0' :",
        "        'biocontainers/samtools:1.19.2--h50ea8bc_0' }\"",
        '    /* container "in/a-block-comment:1" */',
        '    script:',
        '    """',
        '    samtools sort -@ $task.cpus ${bam} # it\'s "quoted"',
        '    container = "inside/a-script:1"',
        '    """',
        '}',
        'process PLAIN {',
        "    container 'docker://ghcr.io/org/plain:1.0' // trailing comment",
        '}',
        '',
      ].join('\n'),
    };
    const result = scan(nextflowScanner, files);
    assert.deepEqual(found(result, files), [
      'modules/nf-core/samtools/sort/main.nf:5:10 biocontainers/samtools:1.19.2--h50ea8bc_0',
      'modules/nf-core/samtools/sort/main.nf:14:25 ghcr.io/org/plain:1.0',
    ]);
    assert.deepEqual(result.skipped, [
      {
        file: 'modules/nf-core/samtools/sort/main.nf',
        line: 4,
        text: 'https://depot.galaxyproject.org/singularity/samtools:1.19.2--h50ea8bc_0',
        reason: 'a https:// URL, pulled by Singularity/Apptainer, not from a registry',
      },
    ]);
    assert.deepEqual(result.problems, []);
  });

  it('applies docker.registry (also given through params) to names without a host, and resolves params defaults into the config', () => {
    const files = {
      'nextflow.config': [
        'params {',
        "    registry_host = 'quay.io'",
        "    fastp_image   = 'biocontainers/fastp:0.23.4--h5f740d0_0'",
        '}',
        'docker {',
        '    enabled  = true',
        '    registry = params.registry_host',
        '}',
        "process { withName: 'FASTP' { container = params.fastp_image } }",
        '',
      ].join('\n'),
      'main.nf': ["process FASTP {", "    container params.fastp_image", "}", "process OTHER {", "    container 'ghcr.io/org/other:2'", '}', ''].join('\n'),
    };
    const result = scan(nextflowScanner, files);
    assert.deepEqual(found(result, files), [
      'nextflow.config:9:43 biocontainers/fastp:0.23.4--h5f740d0_0 [quay.io]',
      'main.nf:2:15 biocontainers/fastp:0.23.4--h5f740d0_0 [quay.io]',
      'main.nf:5:16 ghcr.io/org/other:2 [quay.io]',
    ]);
    // Both uses of params.fastp_image are written in one place: the default in nextflow.config.
    const spans = result.references.filter((r) => r.image.includes('fastp')).map((r) => r.span);
    assert.deepEqual(spans[0], spans[1]);
    assert.equal(spans[0]!.file, 'nextflow.config');
  });

  it("takes docker's registry over podman's, and podman's when docker has none", () => {
    const module = { 'modules/tool.nf': "process T {\n    container 'biocontainers/tool:1'\n}\n" };
    const both = { ...module, 'nextflow.config': "podman.registry = 'podman.example.org'\ndocker.registry = 'quay.io'\n" };
    assert.deepEqual(found(scan(nextflowScanner, both), both), ['modules/tool.nf:2:16 biocontainers/tool:1 [quay.io]']);
    const podman = { ...module, 'nextflow.config': "podman {\n    registry = 'podman.example.org'\n}\n" };
    assert.deepEqual(found(scan(nextflowScanner, podman), podman), ['modules/tool.nf:2:16 biocontainers/tool:1 [podman.example.org]']);
  });

  it('reports a container it cannot resolve and an unterminated string, with file and line', () => {
    const files = {
      'main.nf': ['process A {', '    container params.not_defined', '}', 'process B {', '    container { task.attempt > 1 ? "big:1" : "small:1" }', '}', ''].join('\n'),
      'modules/broken.nf': ['process C {', "    container 'ubuntu:22.04", '}', ''].join('\n'),
    };
    const result = scan(nextflowScanner, files);
    assert.deepEqual(found(result, files), []);
    assert.deepEqual(problems(result), [
      'modules/broken.nf:2: cannot read this Nextflow file: unterminated string (opened with \')',
      "main.nf:2: cannot resolve the container \"params.not_defined\": params.not_defined has no default in the workflow's files",
      'main.nf:5: cannot resolve the container "{ task.attempt > 1 ? "big:1" : "small:1" }": it is an expression, not a literal name or a params value with a default',
    ]);
  });

  it('reads a name put together from params without a span (it cannot be rewritten in one place)', () => {
    const files = {
      'nextflow.config': "params.tool_version = '1.2.3'\n",
      'main.nf': 'process T {\n    container "quay.io/org/tool:${params.tool_version}"\n}\n',
    };
    const result = scan(nextflowScanner, files);
    assert.deepEqual(found(result, files), ['main.nf:2:15 quay.io/org/tool:1.2.3 (no span)']);
  });
});

describe('WDL scanner', () => {
  it('resolves literals, String input defaults, struct-typed object defaults, arrays of candidates and select_first', () => {
    const files = {
      'tasks.wdl': [
        'version 1.0',
        'struct RuntimeAttr {',
        '    String? docker',
        '    Int? cpu',
        '}',
        'task a {',
        '    input {',
        '        String docker_image = "quay.io/biocontainers/bwa:0.7.17--hed695b0_7"',
        '        RuntimeAttr attr = object { docker: "broadinstitute/gatk:4.5.0.0", cpu: 1 }',
        '        RuntimeAttr? custom',
        '    }',
        '    command <<<',
        '        echo "~{docker_image}" \'unbalanced',
        '        # runtime { docker: "not/this:1" }',
        '    >>>',
        '    runtime {',
        '        docker: docker_image',
        '        cpu: 2',
        '    }',
        '}',
        'task b {',
        '    input { RuntimeAttr attr = object { docker: "broadinstitute/gatk:4.5.0.0", cpu: 1 } }',
        '    command { echo ${x} | awk \'{print $1}\' }',
        '    runtime { docker: attr.docker }',
        '}',
        'task c {',
        '    command <<< true >>>',
        '    runtime {',
        '        container: ["ubuntu:22.04", "ghcr.io/org/tool:1"]',
        '    }',
        '}',
        'task d {',
        '    input { RuntimeAttr? runtime_attr',
        '        String default_docker = "debian:12" }',
        '    command <<< true >>>',
        '    runtime { docker: select_first([runtime_attr.docker, default_docker]) # the override, else the default',
        '    }',
        '}',
        '',
      ].join('\n'),
    };
    const result = scan(wdlScanner, files);
    assert.deepEqual(found(result, files), [
      'tasks.wdl:17:17 quay.io/biocontainers/bwa:0.7.17--hed695b0_7',
      'tasks.wdl:24:23 broadinstitute/gatk:4.5.0.0',
      'tasks.wdl:29:22 ubuntu:22.04',
      'tasks.wdl:29:38 ghcr.io/org/tool:1',
      'tasks.wdl:36:23 debian:12',
    ]);
    // A reference through an input is rewritten where its default is written.
    assert.equal(result.references[0]!.span!.start, files['tasks.wdl'].indexOf('quay.io/biocontainers/bwa'));
    assert.equal(result.references[1]!.span!.start, files['tasks.wdl'].lastIndexOf('broadinstitute/gatk'));
    assert.deepEqual(result.problems, []);
  });

  it('reports an input without a default and an unterminated string with file and line', () => {
    const files = {
      'a.wdl': ['version 1.0', 'task t {', '    input { String image }', '    command <<< true >>>', '    runtime { docker: image }', '}', ''].join('\n'),
      'b.wdl': ['version 1.0', 'task t {', '    runtime {', '        docker: "ubuntu:22.04', '    }', '}', ''].join('\n'),
    };
    const result = scan(wdlScanner, files);
    assert.deepEqual(found(result, files), []);
    assert.deepEqual(problems(result), [
      'a.wdl:5: cannot resolve the runtime image: image has no default value in this file (give the image as a literal or as the default of image)',
      'b.wdl:4: cannot read this WDL file: unterminated string (opened with ")',
    ]);
  });
});

describe('CWL scanner', () => {
  it('finds dockerPull in map and list forms, in requirements, hints and inline steps, in YAML and JSON', () => {
    const files = {
      'workflow.cwl': [
        'cwlVersion: v1.2',
        'class: Workflow',
        'inputs: []',
        'outputs: []',
        'steps:',
        '  sort:',
        '    run:',
        '      class: CommandLineTool',
        '      requirements:',
        '        - class: DockerRequirement',
        "          dockerPull: 'quay.io/biocontainers/samtools:1.19--h50ea8bc_0'",
        '      baseCommand: [samtools, sort]',
        '      inputs: []',
        '      outputs: []',
        '    in: []',
        '    out: []',
        'hints:',
        '  DockerRequirement:',
        '    dockerPull: ubuntu:22.04   # the default image',
        '',
      ].join('\n'),
      'tools/tool.json': '{"cwlVersion": "v1.2", "class": "CommandLineTool",\n "hints": {"DockerRequirement": {"dockerPull": "ghcr.io/org/tool:1.0"}}}\n',
      'other/package.json': '{"name": "not-cwl", "dockerPull": "ignored:1"}\n',
    };
    const result = cwlScanner.scan(Object.entries(files).map(([path, content]) => ({ path, content })));
    assert.deepEqual(found(result, files), [
      'workflow.cwl:11:24 quay.io/biocontainers/samtools:1.19--h50ea8bc_0',
      'workflow.cwl:19:17 ubuntu:22.04',
      'tools/tool.json:2:49 ghcr.io/org/tool:1.0',
    ]);
  });

  it('reports invalid YAML with its line', () => {
    const files = { 'broken.cwl': 'cwlVersion: v1.2\nclass: CommandLineTool\nhints:\n  DockerRequirement:\n    dockerPull: "ubuntu:22.04\n' };
    const result = scan(cwlScanner, files);
    assert.deepEqual(found(result, files), []);
    assert.equal(result.problems.length, 1);
    assert.equal(result.problems[0]!.file, 'broken.cwl');
    assert.equal(result.problems[0]!.line, 5);
    assert.match(result.problems[0]!.message, /^cannot read this CWL file: /);
  });
});

describe('Snakemake scanner', () => {
  it('finds the global and per-rule containers, through variables and on the next line; strings in shell commands are not directives', () => {
    const files = {
      'workflow/Snakefile': [
        'configfile: "config/config.yaml"',
        'container: "docker://continuumio/miniconda3:4.4.10"',
        "SAMTOOLS = 'docker://quay.io/biocontainers/samtools:1.19--h50ea8bc_0'",
        '',
        'rule sort:',
        '    input: "a.bam"',
        '    container:',
        '        SAMTOOLS',
        '    shell:',
        '        """',
        "        samtools sort {input} # container: 'not/this:1'",
        '        """',
        '',
        'rule plot:',
        "    container: 'docker://ghcr.io/org/plot:2'",
        '    script: "plot.py"',
        '',
        'rule old:',
        '    singularity: "shub://vsoch/hello-world"',
        '    shell: "true"',
        '',
      ].join('\n'),
      'workflow/rules/qc.smk': ['rule qc:', '    container: f"docker://quay.io/org/qc:{config[\'version\']}"', '    shell: "true"', 'rule cfg:', '    container: config["image"]', ''].join('\n'),
    };
    const result = scan(snakemakeScanner, files);
    assert.deepEqual(found(result, files), [
      'workflow/Snakefile:2:22 continuumio/miniconda3:4.4.10',
      'workflow/Snakefile:8:9 quay.io/biocontainers/samtools:1.19--h50ea8bc_0',
      'workflow/Snakefile:15:26 ghcr.io/org/plot:2',
    ]);
    assert.equal(result.references[1]!.span!.start, files['workflow/Snakefile'].indexOf('quay.io/biocontainers/samtools'));
    assert.deepEqual(result.skipped.map((s) => `${s.file}:${s.line} ${s.text}`), ['workflow/Snakefile:19 shub://vsoch/hello-world']);
    assert.deepEqual(problems(result), [
      'workflow/rules/qc.smk:2: cannot resolve the container: it is an f-string; give the image as a plain string',
      'workflow/rules/qc.smk:5: cannot resolve the container: it comes from the workflow configuration (config[…]), known only when Snakemake runs',
    ]);
  });

  it('reports a Snakefile it cannot read, with file and line, and still reads the others', () => {
    const files = {
      'Snakefile': ['rule a:', '    container: "docker://quay.io/org/a:1"', ''].join('\n'),
      'rules/broken.smk': ['rule b:', "    shell: '''never closed", ''].join('\n'),
    };
    const result = scan(snakemakeScanner, files);
    assert.deepEqual(found(result, files), ['Snakefile:2:26 quay.io/org/a:1']);
    assert.deepEqual(problems(result), ["rules/broken.smk:2: cannot read this Snakefile: unterminated string (opened with ''')"]);
  });
});

describe('Dockerfile scanner', () => {
  it('finds FROM images: stage names, scratch and --platform are not images; ARG defaults are substituted', () => {
    const files = {
      'Dockerfile': [
        '# syntax=docker/dockerfile:1',
        'ARG BASE="python:3.12-slim"',
        'ARG GO_VERSION=1.22',
        'FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build',
        'RUN go build ./...',
        'from ${BASE} as runtime',
        'COPY --from=build /out /out',
        'FROM runtime AS test',
        'FROM scratch',
        'FROM \\',
        '    registry.example.org:5000/team/base:1.0',
        '',
      ].join('\n'),
      'images/tool.Dockerfile': 'FROM ubuntu:${UBUNTU_VERSION}\n',
    };
    const result = scan(dockerfileScanner, files);
    assert.deepEqual(found(result, files), [
      'Dockerfile:4:32 golang:1.22 (no span)',
      'Dockerfile:6:6 python:3.12-slim',
      'Dockerfile:11:5 registry.example.org:5000/team/base:1.0',
    ]);
    // ${BASE} is rewritten where its default is written: the ARG line.
    assert.equal(result.references[1]!.span!.start, files.Dockerfile.indexOf('python:3.12-slim'));
    assert.deepEqual(problems(result), ['images/tool.Dockerfile:1: cannot resolve FROM ubuntu:${UBUNTU_VERSION}: ARG UBUNTU_VERSION has no default before the first FROM']);
  });
});
