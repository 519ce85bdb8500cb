import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * A workflow folder in the four languages plus Dockerfiles, written the way real ones are: an nf-core module with
 * the containerEngine ternary, a nextflow.config with docker.registry, params and withName/withLabel selectors, a
 * WDL 1.0 task with a struct-typed input and a String input default, CWL tools in YAML and JSON, a Snakefile with a
 * global and per-rule containers, and a multi-stage Dockerfile with ARGs.
 */
export const workflowFiles: Record<string, string> = {
  'nextflow.config': `// Global default params, used in configs
params {
    input         = null
    outdir        = 'results'
    // A pipeline-wide image, used by MULTIQC below
    multiqc_image = 'multiqc/multiqc:v1.21'
}

docker.registry = 'quay.io'

process {
    cpus   = { 1 * task.attempt }
    withName: 'MULTIQC' {
        container = params.multiqc_image
    }
    withLabel: 'process_long' {
        container = "ubuntu:22.04" // quay.io/ubuntu with docker.registry, as Nextflow does
    }
}
process.container = 'docker.io/library/debian:12-slim'

profiles {
    docker {
        docker.enabled = true
    }
}
`,
  'modules/nf-core/fastqc/main.nf': `process FASTQC {
    tag "$meta.id"
    label 'process_medium'

    conda "\${moduleDir}/environment.yml"
    container "\${ workflow.containerEngine == 'singularity' && !task.ext.singularity_pull_docker_container ?
        'https://depot.galaxyproject.org/singularity/fastqc:0.12.1--hdfd78af_0' :
        'biocontainers/fastqc:0.12.1--hdfd78af_0' }"

    input:
    tuple val(meta), path(reads)

    output:
    tuple val(meta), path("*.html"), emit: html

    script:
    def args = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: "\${meta.id}"
    // container 'commented/out:1.0' is not a reference
    """
    fastqc \\\\
        $args \\\\
        --threads $task.cpus \\\\
        \${reads} # it's a shell comment with a quote
    """
}
`,
  'main.nf': `#!/usr/bin/env nextflow
nextflow.enable.dsl = 2

include { FASTQC } from './modules/nf-core/fastqc/main'

process MULTIQC {
    label 'process_single'

    input:
    path files

    script:
    """
    multiqc .
    """
}

process TRIM {
    container 'ghcr.io/seqeralabs/trimgalore:0.6.10'

    script:
    "trim_galore --version"
}

workflow {
    FASTQC(Channel.fromPath(params.input))
}
`,
  'wdl/align.wdl': `version 1.0

struct RuntimeAttr {
    String? docker
    Int? cpu
    Float? mem_gb
}

workflow Align {
    input {
        File reads
    }
    call bwa_mem { input: reads = reads }
    call sort_bam { input: bam = bwa_mem.bam }
}

task bwa_mem {
    input {
        File reads
        String bwa_docker = "quay.io/biocontainers/bwa:0.7.17--hed695b0_7"
    }
    command <<<
        bwa mem -t 4 ref.fa ~{reads} > out.sam # don't "quote" this
    >>>
    output {
        File bam = "out.sam"
    }
    runtime {
        docker: bwa_docker
        cpu: 4
    }
}

task sort_bam {
    input {
        File bam
        RuntimeAttr runtime_attr = object {
            docker: "broadinstitute/gatk:4.5.0.0",
            cpu: 2,
            mem_gb: 7.5
        }
    }
    command {
        samtools sort ~{bam} | awk '{print $1}' > sorted.bam
    }
    runtime {
        docker: runtime_attr.docker
        memory: "~{runtime_attr.mem_gb} GiB"
    }
}

task index {
    input {
        File bam
    }
    command <<< samtools index ~{bam} >>>
    runtime {
        container: ["public.ecr.aws/biocontainers/samtools:1.19", "quay.io/biocontainers/samtools:1.19--h50ea8bc_0"]
    }
}
`,
  'cwl/samtools-sort.cwl': `#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: samtools sort
hints:
  DockerRequirement:
    dockerPull: "quay.io/biocontainers/samtools:1.19--h50ea8bc_0"
  ResourceRequirement:
    coresMin: 2
baseCommand: [samtools, sort]
inputs:
  bam:
    type: File
    inputBinding: {position: 1}
outputs:
  sorted:
    type: stdout
`,
  'cwl/fastp.cwl': `{
  "cwlVersion": "v1.2",
  "class": "CommandLineTool",
  "requirements": [
    {
      "class": "DockerRequirement",
      "dockerPull": "registry.example.org:5000/tools/fastp:0.23.4"
    },
    {"class": "InlineJavascriptRequirement"}
  ],
  "baseCommand": "fastp",
  "inputs": [],
  "outputs": []
}
`,
  'snakemake/Snakefile': `configfile: "config/config.yaml"

container: "docker://continuumio/miniconda3:4.4.10"

BWA_IMAGE = "docker://quay.io/biocontainers/bwa:0.7.17--hed695b0_7"


rule all:
    input:
        "results/sample.bam",


rule bwa_map:
    input:
        "data/genome.fa",
        "data/samples/{sample}.fastq",
    output:
        "results/{sample}.bam"
    container:
        BWA_IMAGE
    shell:
        "bwa mem {input} | samtools view -Sb - > {output}  # container: 'not/this'"


rule plot:
    output: "plots/quals.svg"
    container: "docker://ghcr.io/snakemake/plotting:2.1"
    script: "scripts/plot-quals.py"


rule legacy:
    output: "x.txt"
    singularity: "shub://vsoch/hello-world"
    shell: "echo > {output}"
`,
  'docker/Dockerfile': `# syntax=docker/dockerfile:1
ARG PYTHON_IMAGE=python:3.12-slim

FROM --platform=$BUILDPLATFORM golang:1.22 AS build
WORKDIR /src
RUN go build -o /out/tool ./cmd/tool

FROM \${PYTHON_IMAGE} AS runtime
COPY --from=build /out/tool /usr/local/bin/tool

FROM runtime
ENTRYPOINT ["tool"]
`,
  'README.md': 'container "not/scanned:1.0" in a README\n',
};

export async function writeWorkflowFolder(dir: string, files: Record<string, string> = workflowFiles): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}
