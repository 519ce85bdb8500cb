/** The tool the agent starts itself: it listens on `port`, or on a free port the agent picks when absent. */
export interface CommandTool {
  kind: 'command';
  command: string[];
  port?: number;
}

/** A tool the runtime started beside the agent (same network namespace), already told its port. */
export interface SidecarTool {
  kind: 'sidecar';
  port: number;
}

export interface AgentOptions {
  connectUrl: string;
  sessionId: string;
  /** The session's agent token (`bsa_…`). */
  token: string;
  tool: CommandTool | SidecarTool;
  /** Under path routing, the path below which the tool serves. */
  pathPrefix?: string;
  /** How long the tool has between SIGTERM and SIGKILL. */
  graceMs: number;
}

/** What a `berth agent` command line asks for. */
export type AgentInvocation =
  | { kind: 'run'; options: AgentOptions }
  | { kind: 'help' }
  | { kind: 'version' }
  /** Seqera images run `connect-client --install` while building; Berth's agent needs nothing installed. */
  | { kind: 'install' };

/** A command line or environment the agent cannot run with; the message says what to change. */
export class AgentUsageError extends Error {
  override name = 'AgentUsageError';
}

export const defaultGracePeriodS = 30;

export const agentUsage = `Usage: berth agent [options] [--] COMMAND [ARGS…]
       berth agent [options] --entrypoint COMMAND [ARGS…]
       berth agent [options] --sidecar

Runs a Studio's tool and opens the session's tunnel to Berth, so the tool is reachable through Berth's
proxy without any inbound port. Reports the tool as starting, running (once it accepts connections on its
port) and stopped (with its exit code). On SIGTERM or SIGINT it passes the signal to the tool, waits up to
the grace period, then SIGKILLs it, and exits with the tool's status.

Options:
  --port N                 the tool's port, if CONNECT_TOOL_PORT is not set (default: a free port)
  --grace-period SECONDS   time between SIGTERM and SIGKILL (default ${defaultGracePeriodS})
  --path-prefix P          the path the tool serves below, if CONNECT_TOOL_PATH_PREFIX is not set
  --sidecar                run no command: attach to a tool started beside the agent on its port
  --entrypoint             everything after it is the tool's command, verbatim (for images whose
                           ENTRYPOINT is ["…/connect-client", "--entrypoint"])
  --install                accepted for Seqera images; nothing needs installing
  --help                   this text
  --version                the agent's version

The command starts at the first argument that is not an option, or after \`--\`. It is run without a shell,
with CONNECT_TOOL_PORT (and CONNECT_TOOL_PATH_PREFIX under path routing) in its environment.

Environment:
  BERTH_CONNECT_URL        the connect server to dial (required)
  BERTH_SESSION_ID         the session (required)
  BERTH_SESSION_TOKEN      the session's agent token (required; not passed on to the tool)
  CONNECT_TOOL_PORT        the tool's port (required with --sidecar, unless --port is given)
  CONNECT_TOOL_PATH_PREFIX the path the tool serves below (path routing)
`;

interface Flags {
  port?: string;
  gracePeriod?: string;
  pathPrefix?: string;
  sidecar: boolean;
  install: boolean;
  help: boolean;
  version: boolean;
  entrypoint: boolean;
  command: string[];
}

const valueOptions = { '--port': 'port', '--grace-period': 'gracePeriod', '--path-prefix': 'pathPrefix' } as const;
const switchOptions = { '--sidecar': 'sidecar', '--install': 'install', '--help': 'help', '-h': 'help', '--version': 'version' } as const;

/**
 * Reads `berth agent`'s arguments (after the word `agent`) and environment.
 * Throws AgentUsageError for anything it cannot run with.
 */
export function parseAgentArguments(args: readonly string[], env: NodeJS.ProcessEnv): AgentInvocation {
  const flags = readFlags(args);
  if (flags.help) return { kind: 'help' };
  if (flags.version) return { kind: 'version' };
  if (flags.install) return { kind: 'install' };
  const connect = connectionFrom(env);
  const options: AgentOptions = {
    ...connect,
    tool: toolFrom(flags, env),
    graceMs: gracePeriodMs(flags.gracePeriod),
  };
  const pathPrefix = nonEmpty(env.CONNECT_TOOL_PATH_PREFIX) ?? flags.pathPrefix;
  if (pathPrefix !== undefined) options.pathPrefix = checkedPathPrefix(pathPrefix);
  return { kind: 'run', options };
}

function readFlags(args: readonly string[]): Flags {
  const flags: Flags = { sidecar: false, install: false, help: false, version: false, entrypoint: false, command: [] };
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === '--' || arg === '--entrypoint') {
      flags.entrypoint = arg === '--entrypoint';
      flags.command = args.slice(index + 1);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      flags.command = args.slice(index);
      break;
    }
    const equals = arg.indexOf('=');
    const name = equals > 0 ? arg.slice(0, equals) : arg;
    const inlineValue = equals > 0 ? arg.slice(equals + 1) : undefined;
    if (Object.hasOwn(valueOptions, name)) {
      const value = inlineValue ?? args[++index];
      if (value === undefined) throw new AgentUsageError(`${name} needs a value`);
      flags[valueOptions[name as keyof typeof valueOptions]] = value;
    } else if (Object.hasOwn(switchOptions, name)) {
      if (inlineValue !== undefined) throw new AgentUsageError(`${name} takes no value`);
      flags[switchOptions[name as keyof typeof switchOptions]] = true;
      if (flags.help) return flags; // whatever follows, the user asked how to use the agent
    } else {
      throw new AgentUsageError(`unknown option ${name} (the tool's own options go after --)`);
    }
  }
  return flags;
}

function connectionFrom(env: NodeJS.ProcessEnv): Pick<AgentOptions, 'connectUrl' | 'sessionId' | 'token'> {
  const required = ['BERTH_CONNECT_URL', 'BERTH_SESSION_ID', 'BERTH_SESSION_TOKEN'] as const;
  const missing = required.filter((name) => nonEmpty(env[name]) === undefined);
  if (missing.length > 0) {
    throw new AgentUsageError(`${missing.join(', ')} must be set (Berth hands them out when it creates the session)`);
  }
  const connectUrl = env.BERTH_CONNECT_URL!;
  let protocol: string;
  try {
    protocol = new URL(connectUrl).protocol;
  } catch {
    throw new AgentUsageError(`BERTH_CONNECT_URL is not a URL: ${connectUrl}`);
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new AgentUsageError(`BERTH_CONNECT_URL must be http:// or https://, not ${connectUrl}`);
  return { connectUrl, sessionId: env.BERTH_SESSION_ID!, token: env.BERTH_SESSION_TOKEN! };
}

/** The runtime's CONNECT_TOOL_PORT wins over --port: it is what the session was set up with. */
function toolFrom(flags: Flags, env: NodeJS.ProcessEnv): CommandTool | SidecarTool {
  const fromEnv = nonEmpty(env.CONNECT_TOOL_PORT);
  const port = fromEnv !== undefined ? checkedPort(fromEnv, 'CONNECT_TOOL_PORT') : flags.port !== undefined ? checkedPort(flags.port, '--port') : undefined;
  if (flags.sidecar) {
    if (flags.command.length > 0 || flags.entrypoint) throw new AgentUsageError('--sidecar attaches to a tool started beside the agent; it takes no command');
    if (port === undefined) throw new AgentUsageError('--sidecar needs the tool\'s port: set CONNECT_TOOL_PORT (or give --port)');
    return { kind: 'sidecar', port };
  }
  if (flags.command.length === 0) {
    throw new AgentUsageError(
      flags.entrypoint ? '--entrypoint needs the tool command after it (the image\'s CMD)' : 'no tool command: give one (after --), or use --sidecar',
    );
  }
  return port === undefined ? { kind: 'command', command: flags.command } : { kind: 'command', command: flags.command, port };
}

function checkedPort(value: string, source: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw new AgentUsageError(`${source} must be a TCP port (1-65535), not ${JSON.stringify(value)}`);
  return port;
}

function gracePeriodMs(value: string | undefined): number {
  if (value === undefined) return defaultGracePeriodS * 1000;
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new AgentUsageError(`--grace-period must be a number of seconds (0 or more), not ${JSON.stringify(value)}`);
  }
  return Math.round(seconds * 1000);
}

function checkedPathPrefix(prefix: string): string {
  if (!prefix.startsWith('/')) throw new AgentUsageError(`the tool's path prefix must start with /, not ${JSON.stringify(prefix)}`);
  return prefix;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
