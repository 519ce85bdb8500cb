import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The output of each studio's last finished run, kept after its runner freed the session (a removed container
 * or process takes its output with it), so that `berth studios logs` still says why a session ended.
 */
export class SessionLogs {
  constructor(private readonly dir: string) {}

  async keep(sessionId: string, output: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(this.fileOf(sessionId), output, { mode: 0o600 });
  }

  async last(sessionId: string): Promise<string> {
    return readFile(this.fileOf(sessionId), 'utf8').catch(() => '');
  }

  async forget(sessionId: string): Promise<void> {
    await rm(this.fileOf(sessionId), { force: true });
  }

  private fileOf(sessionId: string): string {
    return join(this.dir, `${sessionId}.log`);
  }
}
