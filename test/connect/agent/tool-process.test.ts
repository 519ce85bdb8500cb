import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pickFreePort, waitForPort } from '../../../src/connect/agent/port-probe.ts';
import { ToolProcess } from '../../../src/connect/agent/tool-process.ts';

/**
 * A tool that serves HTTP on $CONNECT_TOOL_PORT and treats SIGTERM as its first argument says:
 * `default` (dies of it), `ignore`, or `exit:N`. Its port accepting connections means its handler is in place.
 */
const listeningTool = `
const mode = process.argv[1];
if (mode === 'ignore') process.on('SIGTERM', () => undefined);
else if (mode.startsWith('exit:')) process.on('SIGTERM', () => process.exit(Number(mode.slice(5))));
require('node:http').createServer((_q, s) => s.end('tool')).listen(Number(process.env.CONNECT_TOOL_PORT), '127.0.0.1');
`;

describe('ToolProcess', () => {
  let dir: string;
  const started: ToolProcess[] = [];
  async function startListeningTool(mode: string): Promise<ToolProcess> {
    const port = await pickFreePort();
    const tool = ToolProcess.start({ command: [process.execPath, '-e', listeningTool, mode], port });
    started.push(tool);
    await waitForPort(port);
    return tool;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-tool-process-'));
  });
  after(async () => {
    for (const tool of started) tool.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports the exit code of a tool that ends by itself', async () => {
    const tool = ToolProcess.start({ command: [process.execPath, '-e', 'process.exit(7)'], port: 1 });
    assert.deepEqual(await tool.ended, { exitCode: 7, signal: null });
    assert.equal(tool.hasEnded, true);
  });

  it('hands the tool CONNECT_TOOL_PORT and CONNECT_TOOL_PATH_PREFIX on top of the given environment', async () => {
    const out = join(dir, 'env.json');
    const script = `require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify({ port: process.env.CONNECT_TOOL_PORT, prefix: process.env.CONNECT_TOOL_PATH_PREFIX, kept: process.env.KEPT }))`;
    const tool = ToolProcess.start({ command: [process.execPath, '-e', script], port: 4567, pathPrefix: '/_studio/abc/', env: { KEPT: 'yes', CONNECT_TOOL_PORT: '1' } });
    assert.deepEqual(await tool.ended, { exitCode: 0, signal: null });
    assert.deepEqual(JSON.parse(await readFile(out, 'utf8')), { port: '4567', prefix: '/_studio/abc/', kept: 'yes' });
  });

  it('passes arguments as they are, without a shell', async () => {
    const out = join(dir, 'args.json');
    const script = `require('node:fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.argv.slice(1)))`;
    const args = ['$HOME', 'a b', '--entrypoint', '"quoted"', '*'];
    const tool = ToolProcess.start({ command: [process.execPath, '-e', script, ...args], port: 1 });
    await tool.ended;
    assert.deepEqual(JSON.parse(await readFile(out, 'utf8')), args);
  });

  it('a tool that exits on SIGTERM reports its own exit code', async () => {
    const tool = await startListeningTool('exit:3');
    assert.deepEqual(await tool.stop(30_000), { exitCode: 3, signal: null });
  });

  it('a tool that dies of SIGTERM reports 128 + 15', async () => {
    const tool = await startListeningTool('default');
    assert.deepEqual(await tool.stop(30_000), { exitCode: 143, signal: 'SIGTERM' });
  });

  it('a tool that ignores SIGTERM is SIGKILLed once the grace period is over', async () => {
    const tool = await startListeningTool('ignore');
    assert.deepEqual(await tool.stop(1_000), { exitCode: 137, signal: 'SIGKILL' });
  });

  it('forwards SIGINT when asked to', async () => {
    const tool = await startListeningTool('ignore');
    // SIGINT is not ignored by this tool, so it dies of it well within the grace period.
    assert.deepEqual(await tool.stop(30_000, 'SIGINT'), { exitCode: 130, signal: 'SIGINT' });
  });

  it('stop is idempotent and answers with the ending after the tool has ended', async () => {
    const tool = await startListeningTool('exit:5');
    const [first, second] = await Promise.all([tool.stop(30_000), tool.stop(30_000)]);
    assert.deepEqual(first, { exitCode: 5, signal: null });
    assert.deepEqual(second, first);
    assert.deepEqual(await tool.stop(30_000), first);
  });

  it("signals the tool's whole process group, so a shell's children get SIGTERM too", async () => {
    // The shell catches SIGTERM (its trap runs only after its foreground child ends) and exits with the
    // child's status; the child exits 42 on SIGTERM. So 42 means the child got the signal straight away:
    // had only the shell been signalled, the child would run on until SIGKILL (137) after the grace.
    const port = await pickFreePort();
    const child = `process.on('SIGTERM', () => process.exit(42)); require('node:http').createServer().listen(Number(process.env.CONNECT_TOOL_PORT), '127.0.0.1')`;
    const script = `trap 'true' TERM; "$0" -e "$1"; exit $?`;
    const tool = ToolProcess.start({ command: ['sh', '-c', script, process.execPath, child], port });
    started.push(tool);
    await waitForPort(port);
    assert.deepEqual(await tool.stop(60_000), { exitCode: 42, signal: null });
  });

  it('a command that does not exist ends with 127 and says so, without an unhandled error', async () => {
    const tool = ToolProcess.start({ command: ['/nonexistent/berth-tool', '--port', '1'], port: 1 });
    const ending = await tool.ended;
    assert.equal(ending.exitCode, 127);
    assert.equal(ending.signal, null);
    assert.match(ending.message ?? '', /\/nonexistent\/berth-tool: command not found/);
    assert.deepEqual(await tool.stop(1_000), ending);
  });

  it('a file that cannot be executed ends with 126', async () => {
    const file = join(dir, 'not-executable');
    await writeFile(file, 'echo never');
    await chmod(file, 0o644);
    const ending = await ToolProcess.start({ command: [file], port: 1 }).ended;
    assert.equal(ending.exitCode, 126);
    assert.match(ending.message ?? '', /cannot start the tool/);
  });
});
