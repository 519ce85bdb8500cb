import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { localToolboxContext } from '../toolbox/local-context.ts';
import { generateRegistryMapOperation } from '../toolbox/map/map-operations.ts';
import type { RegistryMapResult } from '../toolbox/map/registry-map.ts';
import { ToolboxError } from '../toolbox/toolbox-operation.ts';

interface MapFlags {
  registry: string;
  prefixes?: Record<string, string>;
  out?: string;
  format: string;
  rewrite?: boolean;
  backupSuffix?: string;
  json?: boolean;
  strict?: boolean;
}

/**
 * `berth map WORKFLOW_DIR --registry HOST[/WORKSPACE]`: the registry map of a workflow folder, on this machine (no
 * Berth server needed). The map goes to --out or standard output, the summary (references per language, skipped
 * containers, problems with file:line) to standard error. Exit codes: 0 done (problems are reported, not fatal),
 * 1 when the map cannot be made or, with --strict, when there are problems; 2 usage errors.
 */
export function mapCommand(program: Command): void {
  program
    .command('map <workflowDir>')
    .description('map every container image of a workflow (Nextflow, WDL, CWL, Snakemake, Dockerfiles) to a mirror registry; optionally rewrite the files')
    .requiredOption('--registry <host>', 'the mirror: HOST or HOST/WORKSPACE (e.g. berth.example.org/genomics)')
    .option('--prefixes <list>', 'pull-through prefixes by source registry, e.g. docker.io=docker-hub,quay.io=quay (replaces the defaults; "none": clone everything)', prefixList)
    .option('--out <file>', 'write the map to FILE (default: standard output)')
    .addOption(new Option('--format <format>', 'flat ({"source": "target"}) or healthomics (AWS HealthOmics container registry map)').choices(['flat', 'healthomics']).default('flat'))
    .option('--rewrite', 'rewrite the workflow files in place to name the mirror (each changed file backed up first)')
    .option('--backup-suffix <suffix>', 'suffix of the backups --rewrite makes (default .bak)')
    .option('--json', 'print the whole result (map, references, problems, skipped, rewritten) as JSON on standard output')
    .option('--strict', 'exit with code 1 when there are problems (unreadable files, unresolvable references)')
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
    .action(async (workflowDir: string, flags: MapFlags) => {
      let result: RegistryMapResult;
      try {
        const input = generateRegistryMapOperation.input.parse({
          workflowDir,
          registry: flags.registry,
          format: flags.format,
          ...(flags.prefixes && { prefixes: flags.prefixes }),
          ...(flags.rewrite && { rewrite: true }),
          ...(flags.backupSuffix && { backupSuffix: flags.backupSuffix }),
        });
        // A map needs no registry or server, only the files: a context without Berth, so that --url/--token never matter.
        result = await generateRegistryMapOperation.run(input, localToolboxContext({}));
      } catch (error) {
        if (!(error instanceof ToolboxError)) throw error;
        console.error(`berth map: ${error.message}`);
        process.exitCode = 1;
        return;
      }
      const mapText = `${JSON.stringify(result.map, null, 2)}\n`;
      if (flags.out) await writeFile(flags.out, mapText);
      if (flags.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else if (!flags.out) process.stdout.write(mapText);
      process.stderr.write(summary(result, flags.out));
      if (flags.strict && result.problems.length > 0) process.exitCode = 1;
    });
}

/** `docker.io=docker-hub,quay.io=quay` → {"docker.io": "docker-hub", "quay.io": "quay"}; `none` → {}. */
function prefixList(value: string): Record<string, string> {
  if (value.trim() === 'none' || value.trim() === '') return {};
  const prefixes: Record<string, string> = {};
  for (const item of value.split(',')) {
    const [source, prefix, extra] = item.split('=').map((part) => part.trim());
    if (!source || !prefix || extra !== undefined) throw new InvalidArgumentError(`"${item}" is not REGISTRY=PREFIX (e.g. quay.io=quay)`);
    prefixes[source] = prefix;
  }
  return prefixes;
}

function summary(result: RegistryMapResult, out: string | undefined): string {
  const lines: string[] = [];
  const perLanguage = new Map<string, number>();
  for (const reference of result.references) perLanguage.set(reference.language, (perLanguage.get(reference.language) ?? 0) + 1);
  const languages = [...perLanguage].map(([language, count]) => `${language} ${count}`).join(', ');
  const clones = result.references.filter((r) => r.via === 'clone' && r.normalized !== r.target);
  const pulled = result.references.filter((r) => r.via === 'pull-through' && r.normalized !== r.target);
  const mirrored = result.references.length - clones.length - pulled.length;
  lines.push(
    `${result.references.length} container ${result.references.length === 1 ? 'reference' : 'references'}${languages ? ` (${languages})` : ''}: ` +
      `${pulled.length} through pull-through caches, ${clones.length} to clone${mirrored ? `, ${mirrored} already on the mirror` : ''}`,
  );
  const toClone = [...new Map(clones.map((r) => [r.normalized, r.target]))];
  if (toClone.length > 0) {
    lines.push('copy these to the mirror (no pull-through cache serves them):');
    for (const [source, target] of toClone) lines.push(`  berth clone ${source} ${target}`);
  }
  if (result.skipped.length > 0) {
    lines.push('skipped (not registry images):');
    for (const s of result.skipped) lines.push(`  ${s.file}:${s.line}: ${s.text} (${s.reason})`);
  }
  if (result.problems.length > 0) {
    lines.push(`${result.problems.length} ${result.problems.length === 1 ? 'problem' : 'problems'}:`);
    for (const p of result.problems) lines.push(`  ${p.file}:${p.line}: ${p.message}`);
  }
  if (result.rewritten) {
    lines.push(result.rewritten.length === 0 ? 'rewrite: nothing to change' : `rewrote ${result.rewritten.length} ${result.rewritten.length === 1 ? 'file' : 'files'}:`);
    for (const r of result.rewritten) lines.push(`  ${r.file} (${r.changes} ${r.changes === 1 ? 'reference' : 'references'}; original in ${r.backup})`);
  }
  if (out) lines.push(`map written to ${out}`);
  return `${lines.join('\n')}\n`;
}
