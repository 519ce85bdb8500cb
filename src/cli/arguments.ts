import { InvalidArgumentError, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { ApiClient, CliError, type ClientOptions } from './client.ts';

/** The client for a command, from the global --url/--token/--data options. */
export function clientFor(command: Command): ApiClient {
  return new ApiClient(command.optsWithGlobals() as ClientOptions);
}

export function integer(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

/** Text from `--file F` (`-` for standard input) or `--text T`; one of them is required. */
export function textFrom(options: { file?: string; text?: string }, what: string): string {
  if (options.text !== undefined) return options.text;
  if (options.file === undefined) throw new CliError(`give the ${what} with --file FILE (or - for standard input) or --text TEXT`);
  try {
    return readFileSync(options.file === '-' ? 0 : options.file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${options.file}: ${(error as Error).message}`);
  }
}
