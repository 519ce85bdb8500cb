import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createMcpServer } from '../mcp/mcp-server.ts';
import { toolboxOperations } from '../toolbox/operations.ts';
import { cliToolboxContext, withEcrTargetOptions, type EcrTargetFlags } from './toolbox-context.ts';

/**
 * `berth mcp`: the registry toolbox as an MCP server on standard input and output, for AI assistants. Its
 * tools act as the CLI would (the same Berth, token and flags); nothing else may write to standard output.
 */
export function mcpCommand(program: Command): void {
  withEcrTargetOptions(
    program.command('mcp').description('serve the registry toolbox to AI assistants over MCP (stdio): clone, check, grant, pull-through caches, registry maps'),
  ).action(async (options: EcrTargetFlags, command: Command) => {
    const server = createMcpServer(toolboxOperations, (call) => cliToolboxContext(command, call), { version: packageVersion(), inputDefaults: { workspace: options.workspace } });
    await server.connect(new StdioServerTransport());
  });
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}
