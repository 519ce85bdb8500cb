import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { AugmentError } from '../builder/augment/augment-errors.ts';
import type { AugmentResult } from '../builder/augment/augment-image.ts';
import { packDirectory } from '../builder/augment/directory-tar.ts';
import { envPair } from '../builder/augment/image-config.ts';
import { parseImageReference } from '../builder/augment/image-reference.ts';
import { LayerEncoder } from '../builder/augment/layer-encoding.ts';
import { clientFor } from './arguments.ts';
import { CliError, type ApiClient } from './client.ts';
import { manifestExists, pushBlob } from './oci-upload.ts';

interface AugmentOptions {
  layer: string[];
  env: string[];
  label: string[];
  entrypoint?: string;
  cmd?: string;
  workdir?: string;
  to: string;
  json?: boolean;
}

const repeatable = (value: string, previous: string[]) => [...previous, value];

/** `berth image …`: images in Berth's registry. */
export function imageCommands(image: Command): void {
  image
    .command('augment <source>')
    .description('a new image from SOURCE with layers and settings added, without a rebuild (base layers are not copied)')
    .requiredOption('--to <target>', 'the new image: <workspace>/<repository>:<tag> (this Berth\'s host in front is allowed)')
    .option('--layer <dir|tar>', 'a directory (its contents land at /) or a tar / tar.gz file; repeatable, applied in order', repeatable, [])
    .option('--env <KEY=VALUE>', 'set an environment variable (replaces the same key); repeatable', repeatable, [])
    .option('--label <KEY=VALUE>', 'set a label; repeatable', repeatable, [])
    .option('--entrypoint <json|path>', 'a JSON list (exec form), or one executable; "[]" clears it')
    .option('--cmd <json|arg>', 'default arguments: a JSON list, or one argument; "[]" clears them')
    .option('--workdir <path>', 'the working directory (absolute)')
    .option('--json', 'print the result as JSON')
    .action(async (source: string, options: AugmentOptions, command: Command) => {
      const client = clientFor(command);
      const body = {
        source,
        target: options.to,
        env: envEntries(options.env),
        labels: options.label.length ? Object.fromEntries(checked(() => options.label.map(envPair))) : undefined,
        entrypoint: options.entrypoint === undefined ? undefined : execForm(options.entrypoint, '--entrypoint'),
        cmd: options.cmd === undefined ? undefined : execForm(options.cmd, '--cmd'),
        workdir: options.workdir,
        layers: await uploadLayers(client, source, options.to, options.layer),
      };
      const result = await client.call<AugmentResult>('POST', '/api/images/augment', body);
      if (options.json) return console.log(JSON.stringify(result, null, 2));
      printResult(source, result);
    });
}

/**
 * Packs and gzips each layer locally and pushes it into the target repository over the OCI API,
 * streaming (nothing is staged on disk); the API then only needs the digests. The source is looked
 * at first, so that a mistyped source does not leave uploaded layers (and a new repository) behind.
 */
async function uploadLayers(client: ApiClient, source: string, target: string, paths: string[]): Promise<Array<{ digest: string }>> {
  if (paths.length === 0) return [];
  const hosts = [new URL(client.url).host];
  const repository = checked(() => parseImageReference(target, hosts).name.full);
  const user = (await client.call<{ user: { name: string } }>('GET', '/api/me')).user.name;
  const base = checked(() => parseImageReference(source, hosts));
  const baseReference = 'tag' in base.reference ? base.reference.tag : base.reference.digest;
  if (!(await manifestExists(client, user, base.name.full, baseReference))) {
    throw new CliError(`source image ${source} not found, or not yours to pull`);
  }
  const layers: Array<{ digest: string }> = [];
  for (const path of paths) {
    const found = await stat(path).catch(() => undefined);
    if (!found || !(found.isDirectory() || found.isFile())) throw new CliError(`--layer ${path}: no such directory or file`);
    const encoder = new LayerEncoder();
    const bytes = encoder.encode(found.isDirectory() ? packDirectory(path) : createReadStream(path));
    await pushBlob(client, user, repository, bytes, () => encoder.result().digest);
    layers.push({ digest: encoder.result().digest });
  }
  return layers;
}

/** The `--env` entries, checked here so that a typo fails before any layer is uploaded. */
function envEntries(entries: string[]): string[] | undefined {
  if (entries.length === 0) return undefined;
  checked(() => entries.forEach((entry) => envPair(entry)));
  return entries;
}

/** `["a","b"]` as it is; any other text is one element, never run through a shell. */
function execForm(value: string, flag: string): string[] {
  if (!value.trimStart().startsWith('[')) return [value];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (error) {
    throw new CliError(`${flag}: not valid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === 'string')) throw new CliError(`${flag}: must be a JSON list of strings`);
  return parsed;
}

/** Runs a check from the augmentation library, reporting its refusal as a CLI error. */
function checked<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof AugmentError) throw new CliError(error.message);
    throw error;
  }
}

function printResult(source: string, result: AugmentResult): void {
  console.log(`${result.target} (${result.digest}) from ${source}`);
  for (const platform of result.platforms) console.log(`  ${platform.platform.padEnd(16)} ${platform.digest}`);
  console.log(`  ${result.uploadedLayers.length} layer(s) added, ${result.mountedLayers.length} base layer(s) mounted without copying`);
  for (const skipped of result.skipped) console.log(`  left out ${skipped.digest}: ${skipped.reason}`);
}
