import { z } from 'zod';
import { ToolboxError, type ToolboxContext } from '../toolbox-operation.ts';
import { cwlScanner } from './cwl-scanner.ts';
import { dockerfileScanner } from './dockerfile-scanner.ts';
import { mapImage, parseMirror, pullThroughPrefixes, type MappedImage, type MappingRoute } from './image-mapping.ts';
import { flatRegistryMap, healthOmicsRegistryMap, type FlatRegistryMap, type HealthOmicsRegistryMap, type RegistryMapFormat } from './map-formats.ts';
import { nextflowScanner } from './nextflow-scanner.ts';
import { planRewrite, type RewriteRequest } from './rewrite.ts';
import type { MapProblem, ScanResult, ScannedReference, SkippedContainer, WorkflowFile, WorkflowLanguage, WorkflowScanner } from './scan-results.ts';
import { snakemakeScanner } from './snakemake-scanner.ts';
import { wdlScanner } from './wdl-scanner.ts';
import { readWorkflowFolder, writeRewrittenFiles } from './workflow-folder.ts';

export const workflowScanners: readonly WorkflowScanner[] = [nextflowScanner, wdlScanner, cwlScanner, snakemakeScanner, dockerfileScanner];

export const registryMapInput = z.object({
  workflowDir: z.string().min(1).optional().describe('Folder of the workflow to scan (CLI and MCP only: the API has no access to files; send `files` there)'),
  files: z
    .array(z.object({ path: z.string().min(1).describe('Path inside the workflow, e.g. modules/fastqc/main.nf'), content: z.string().describe('The file text') }))
    .optional()
    .describe('The workflow files themselves, instead of workflowDir; with rewrite, the rewritten contents come back in `rewritten`'),
  registry: z.string().min(1).describe('The mirror images go to: HOST or HOST/WORKSPACE (e.g. berth.example.org/genomics, 123456789012.dkr.ecr.eu-west-2.amazonaws.com)'),
  prefixes: z
    .record(z.string(), z.string())
    .optional()
    .describe(
      'Pull-through cache prefix by source registry, e.g. {"docker.io":"docker-hub","quay.io":"quay"}; replaces the default set (docker.io=docker-hub, quay.io=quay, ghcr.io=github, public.ecr.aws=ecr-public, registry.k8s.io=k8s, registry.gitlab.com=gitlab). Images from other registries map to their cloned location. {} maps everything to cloned locations.',
    ),
  format: z.enum(['flat', 'healthomics']).default('flat').describe('flat: {"source": "target"}; healthomics: AWS HealthOmics container registry map {registryMappings, imageMappings}'),
  rewrite: z.boolean().optional().describe('Also rewrite the workflow files so that they name the mirror (each changed file backed up first)'),
  backupSuffix: z.string().min(1).optional().describe('Suffix of the backup of each rewritten file (default .bak)'),
});

export type RegistryMapInput = z.infer<typeof registryMapInput>;

export interface MappedReference {
  file: string;
  line: number;
  column: number;
  language: WorkflowLanguage;
  /** The image as the workflow names it. */
  source: string;
  normalized: string;
  target: string;
  /** `pull-through`: the mirror's cache serves it under the registry's prefix; `clone`: it must be copied there (`berth clone`). */
  via: MappingRoute;
}

export interface RewrittenFile {
  file: string;
  /** How many references in it changed. */
  changes: number;
  /** The backup of the original (files on disk). */
  backup?: string;
  /** The new text (files sent as `files`). */
  content?: string;
}

export interface RegistryMapResult {
  format: RegistryMapFormat;
  map: FlatRegistryMap | HealthOmicsRegistryMap;
  references: MappedReference[];
  /** Files or references that could not be read or resolved, with file and line. */
  problems: MapProblem[];
  /** Containers that are not registry images (Singularity URLs, .sif files): noted, not mapped. */
  skipped: SkippedContainer[];
  rewritten?: RewrittenFile[];
}

const defaultBackupSuffix = '.bak';

/**
 * Finds every container reference of a workflow (Nextflow, WDL, CWL, Snakemake, Dockerfiles), maps each to its
 * location on the mirror, and writes the map in the chosen format; with `rewrite`, points the files at the mirror.
 */
export async function generateRegistryMap(input: RegistryMapInput, context: Pick<ToolboxContext, 'localFiles'>): Promise<RegistryMapResult> {
  const mirror = parseMirror(input.registry);
  const prefixes = pullThroughPrefixes(input.prefixes);
  const backupSuffix = input.backupSuffix ?? defaultBackupSuffix;
  const { files, problems: readProblems } = await workflowFiles(input, context, backupSuffix);

  const scan = scanWorkflow(files);
  const problems: MapProblem[] = [...readProblems, ...scan.problems];
  const mapped: Array<{ reference: ScannedReference; image: MappedImage }> = [];
  for (const reference of scan.references) {
    try {
      mapped.push({ reference, image: mapImage(reference.image, reference.defaultRegistry, mirror, prefixes) });
    } catch (error) {
      if (!(error instanceof ToolboxError)) throw error;
      problems.push({ file: reference.file, line: reference.line, message: error.message });
    }
  }

  const images = mapped.map((m) => m.image);
  const format = input.format;
  const result: RegistryMapResult = {
    format,
    map: format === 'healthomics' ? healthOmicsRegistryMap(images, mirror) : flatRegistryMap(images),
    references: mapped.map(({ reference, image }) => ({
      file: reference.file,
      line: reference.line,
      column: reference.column,
      language: reference.language,
      source: reference.image,
      normalized: image.normalized,
      target: image.target,
      via: image.via,
    })),
    problems,
    skipped: scan.skipped,
  };
  if (input.rewrite) {
    const requests: RewriteRequest[] = mapped
      .filter(({ image }) => !image.onMirror)
      .map(({ reference, image }) => ({ file: reference.file, line: reference.line, source: reference.image, target: image.target, ...(reference.span ? { span: reference.span } : {}) }));
    const plan = planRewrite(files, requests);
    problems.push(...plan.problems);
    if (input.workflowDir !== undefined) {
      const contents = new Map([...plan.contents].map(([path, change]) => [path, change.content]));
      const written = await writeRewrittenFiles(input.workflowDir, contents, backupSuffix);
      result.rewritten = written.map((w) => ({ ...w, changes: plan.contents.get(w.file)!.changes }));
    } else {
      result.rewritten = [...plan.contents].map(([file, change]) => ({ file, changes: change.changes, content: change.content }));
    }
  }
  problems.sort((a, b) => compareText(a.file, b.file) || a.line - b.line);
  return result;
}

/** Runs each scanner over the files it reads; references in file and line order. */
export function scanWorkflow(files: readonly WorkflowFile[]): ScanResult {
  const merged: ScanResult = { references: [], problems: [], skipped: [] };
  for (const scanner of workflowScanners) {
    const found = scanner.scan(files.filter((f) => scanner.matches(f.path)));
    merged.references.push(...found.references);
    merged.problems.push(...found.problems);
    merged.skipped.push(...found.skipped);
  }
  merged.references.sort((a, b) => compareText(a.file, b.file) || a.line - b.line || a.column - b.column);
  merged.skipped.sort((a, b) => compareText(a.file, b.file) || a.line - b.line);
  return merged;
}

async function workflowFiles(input: RegistryMapInput, context: Pick<ToolboxContext, 'localFiles'>, backupSuffix: string): Promise<{ files: WorkflowFile[]; problems: MapProblem[] }> {
  if ((input.workflowDir === undefined) === (input.files === undefined)) {
    throw new ToolboxError('INVALID_INPUT', 'give either workflowDir (a folder to scan) or files (the workflow files and their contents), not both');
  }
  if (input.workflowDir !== undefined) {
    if (!context.localFiles) throw new ToolboxError('INVALID_INPUT', 'workflowDir cannot be read here (the API has no access to your files); send the files as files: [{path, content}]');
    return readWorkflowFolder(input.workflowDir, (path) => workflowScanners.some((s) => s.matches(path)), backupSuffix);
  }
  const files = input.files!.map((f) => ({ path: f.path.replace(/\\/g, '/').replace(/^(\.\/)+/, ''), content: f.content }));
  const seen = new Set<string>();
  for (const file of files) {
    const path = file.path;
    if (path.startsWith('/') || path.split('/').includes('..') || /^[A-Za-z]:/.test(path)) {
      throw new ToolboxError('INVALID_INPUT', `file path "${file.path}" must be relative to the workflow folder, without ..`, { file: file.path });
    }
    if (seen.has(path)) throw new ToolboxError('INVALID_INPUT', `file "${file.path}" is given twice`, { file: file.path });
    seen.add(path);
  }
  return { files, problems: [] };
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
