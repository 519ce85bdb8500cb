import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AgentUsageError, parseAgentArguments, type AgentInvocation, type AgentOptions } from '../../../src/connect/agent/agent-options.ts';

const session = { BERTH_CONNECT_URL: 'http://127.0.0.1:8080', BERTH_SESSION_ID: 'abc123def456', BERTH_SESSION_TOKEN: 'bsa_secret' };
const connection = { connectUrl: 'http://127.0.0.1:8080', sessionId: 'abc123def456', token: 'bsa_secret' };

function run(options: Partial<AgentOptions> & Pick<AgentOptions, 'tool'>): AgentInvocation {
  return { kind: 'run', options: { ...connection, graceMs: 30_000, ...options } };
}

interface Case {
  name: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  expect: AgentInvocation;
}

const cases: Case[] = [
  { name: 'a command after --', args: ['--', 'jupyter', 'notebook', '--port', '8888'], expect: run({ tool: { kind: 'command', command: ['jupyter', 'notebook', '--port', '8888'] } }) },
  { name: 'a command without --, starting at the first non-option', args: ['--grace-period', '5', 'code-server', '--bind', 'x'], expect: run({ graceMs: 5000, tool: { kind: 'command', command: ['code-server', '--bind', 'x'] } }) },
  {
    name: '--entrypoint takes everything after it verbatim, dashes included',
    args: ['--entrypoint', '--weird', '--', '--port', '1'],
    expect: run({ tool: { kind: 'command', command: ['--weird', '--', '--port', '1'] } }),
  },
  {
    name: '-- takes everything after it, even --entrypoint',
    args: ['--', '--entrypoint', 'x'],
    expect: run({ tool: { kind: 'command', command: ['--entrypoint', 'x'] } }),
  },
  { name: 'options before --entrypoint still count', args: ['--port', '9000', '--entrypoint', 'tool'], expect: run({ tool: { kind: 'command', command: ['tool'], port: 9000 } }) },
  { name: '--port=N and --grace-period=S (fractions allowed)', args: ['--port=9001', '--grace-period=0.5', '--', 'tool'], expect: run({ graceMs: 500, tool: { kind: 'command', command: ['tool'], port: 9001 } }) },
  { name: 'a grace period of 0 kills at once', args: ['--grace-period', '0', '--', 'tool'], expect: run({ graceMs: 0, tool: { kind: 'command', command: ['tool'] } }) },
  {
    name: 'CONNECT_TOOL_PORT wins over --port',
    args: ['--port', '9000', '--', 'tool'],
    env: { CONNECT_TOOL_PORT: '7000' },
    expect: run({ tool: { kind: 'command', command: ['tool'], port: 7000 } }),
  },
  { name: 'an empty CONNECT_TOOL_PORT counts as unset', args: ['--', 'tool'], env: { CONNECT_TOOL_PORT: '' }, expect: run({ tool: { kind: 'command', command: ['tool'] } }) },
  {
    name: 'the path prefix from the environment, or from --path-prefix',
    args: ['--path-prefix', '/flag/', '--', 'tool'],
    env: { CONNECT_TOOL_PATH_PREFIX: '/_studio/abc123def456/' },
    expect: run({ pathPrefix: '/_studio/abc123def456/', tool: { kind: 'command', command: ['tool'] } }),
  },
  { name: '--path-prefix alone', args: ['--path-prefix', '/p/', 'tool'], expect: run({ pathPrefix: '/p/', tool: { kind: 'command', command: ['tool'] } }) },
  { name: 'sidecar on CONNECT_TOOL_PORT', args: ['--sidecar'], env: { CONNECT_TOOL_PORT: '8888' }, expect: run({ tool: { kind: 'sidecar', port: 8888 } }) },
  { name: 'sidecar on --port', args: ['--sidecar', '--port', '8888'], expect: run({ tool: { kind: 'sidecar', port: 8888 } }) },
  { name: '--help', args: ['--help', '--', 'tool'], env: {}, expect: { kind: 'help' } },
  { name: '-h, even with a bad option after it', args: ['-h', '--bogus'], env: {}, expect: { kind: 'help' } },
  { name: '--version needs no session', args: ['--version'], env: {}, expect: { kind: 'version' } },
  { name: '--install needs no session and no command', args: ['--install'], env: {}, expect: { kind: 'install' } },
];

interface ErrorCase {
  name: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  message: RegExp;
}

const errors: ErrorCase[] = [
  { name: 'no command and no --sidecar', args: [], message: /no tool command/ },
  { name: 'nothing after --', args: ['--port', '1', '--'], message: /no tool command/ },
  { name: 'nothing after --entrypoint', args: ['--entrypoint'], message: /--entrypoint needs the tool command/ },
  { name: '--sidecar with a command', args: ['--sidecar', '--', 'tool'], env: { CONNECT_TOOL_PORT: '1' }, message: /takes no command/ },
  { name: '--sidecar without a port', args: ['--sidecar'], message: /--sidecar needs the tool's port/ },
  { name: 'an unknown option', args: ['--bogus', '--', 'tool'], message: /unknown option --bogus/ },
  { name: 'an unknown short option', args: ['-x', 'tool'], message: /unknown option -x/ },
  { name: 'a value given to a switch', args: ['--sidecar=yes'], message: /--sidecar takes no value/ },
  { name: 'an option without its value', args: ['--port'], message: /--port needs a value/ },
  { name: 'a port that is not a number', args: ['--port', 'http', 'tool'], message: /--port must be a TCP port/ },
  { name: 'a port out of range', args: ['tool'], env: { CONNECT_TOOL_PORT: '70000' }, message: /CONNECT_TOOL_PORT must be a TCP port/ },
  { name: 'a negative grace period', args: ['--grace-period', '-1', 'tool'], message: /--grace-period must be a number of seconds/ },
  { name: 'a grace period that is not a number', args: ['--grace-period', 'soon', 'tool'], message: /--grace-period must be a number of seconds/ },
  { name: 'a path prefix without its leading slash', args: ['--path-prefix', 'studio', 'tool'], message: /must start with \// },
  {
    name: 'missing session variables, all named at once',
    args: ['tool'],
    env: { BERTH_CONNECT_URL: '', BERTH_SESSION_ID: undefined, BERTH_SESSION_TOKEN: undefined },
    message: /BERTH_CONNECT_URL, BERTH_SESSION_ID, BERTH_SESSION_TOKEN must be set/,
  },
  { name: 'a connect URL that is not a URL', args: ['tool'], env: { BERTH_CONNECT_URL: 'berth host' }, message: /BERTH_CONNECT_URL is not a URL/ },
  { name: 'a connect URL that is not http(s)', args: ['tool'], env: { BERTH_CONNECT_URL: 'ftp://berth' }, message: /must be http:\/\/ or https:\/\// },
];

describe('parseAgentArguments', () => {
  for (const { name, args, env, expect } of cases) {
    it(name, () => {
      assert.deepEqual(parseAgentArguments(args, { ...session, ...env }), expect);
    });
  }

  for (const { name, args, env, message } of errors) {
    it(`refuses ${name}`, () => {
      assert.throws(() => parseAgentArguments(args, { ...session, ...env }), (error: unknown) => {
        assert.ok(error instanceof AgentUsageError, `expected an AgentUsageError, got ${String(error)}`);
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it('the default grace period is 30 s', () => {
    const invocation = parseAgentArguments(['tool'], session);
    assert.equal(invocation.kind === 'run' && invocation.options.graceMs, 30_000);
  });
});
