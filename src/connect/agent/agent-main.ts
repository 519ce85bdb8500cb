/**
 * `berth agent …`, and the whole of the standalone `berth-agent` executable (scripts/build-agent.sh).
 * It imports only node built-ins, src/connect/agent and src/connect/tunnel: the agent runs inside sessions,
 * knows nothing of the control plane, and must bundle into one file.
 */
import { readFileSync } from 'node:fs';
import { runAgent } from './agent.ts';
import { agentUsage, AgentUsageError, parseAgentArguments } from './agent-options.ts';

/** Set by scripts/build-agent.sh when bundling; from the source tree the version is package.json's. */
declare const BERTH_AGENT_VERSION: string | undefined;

/** Runs `berth agent` with these arguments (those after `agent`) and resolves with the exit status. */
export async function agentMain(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let invocation;
  try {
    invocation = parseAgentArguments(args, env);
  } catch (error) {
    if (!(error instanceof AgentUsageError)) throw error;
    process.stderr.write(`berth agent: ${error.message}\nRun 'berth agent --help' for usage.\n`);
    return 2;
  }
  switch (invocation.kind) {
    case 'help':
      process.stdout.write(agentUsage);
      return 0;
    case 'version':
      process.stdout.write(`berth agent ${agentVersion()}\n`);
      return 0;
    case 'install':
      process.stdout.write('berth agent: nothing to install; the agent is self-contained\n');
      return 0;
    case 'run':
      return runAgent(invocation.options);
  }
}

/** Runs `berth agent` and exits the process with its status. */
export function runAgentCommand(args: readonly string[]): void {
  agentMain(args).then(
    (status) => process.exit(status),
    (error: unknown) => {
      process.stderr.write(`berth agent: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}

function agentVersion(): string {
  if (typeof BERTH_AGENT_VERSION === 'string') return BERTH_AGENT_VERSION;
  const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return packageJson.version;
}

// The bundle (CommonJS) is its own entry point; `berth agent` in the CLI calls runAgentCommand instead.
if (typeof module !== 'undefined' && typeof require !== 'undefined' && require.main === module) runAgentCommand(process.argv.slice(2));
