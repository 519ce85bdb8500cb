import type { TestBerth } from './berth.ts';
import { eventually } from './waiting.ts';

export interface StudioView {
  sessionId: string;
  name: string;
  studioUrl: string;
  statusInfo: { status: string; message: string | null; stopReason: string | null };
  progress: Array<{ step: string; status: string; message: string }>;
  buildId: string | null;
  image: string | null;
}

/** Reads a studio as `token` (default admin). */
export async function studio(berth: TestBerth, sessionId: string, token?: string): Promise<StudioView> {
  const answer = await berth.api<{ studio: StudioView }>('GET', `/api/studios/${sessionId}`, undefined, token);
  if (answer.status !== 200) throw new Error(`GET studio ${sessionId}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body.studio;
}

/** Waits until the studio reaches `status`; fails early (with its message) when it settles in another final status. */
export async function waitForStudio(berth: TestBerth, sessionId: string, status: string, timeoutMs = 90_000): Promise<StudioView> {
  const finals = ['running', 'stopped', 'errored', 'buildFailed'].filter((final) => final !== status);
  let seen: StudioView | undefined;
  await eventually(`studio ${sessionId} to be ${status}`, async () => {
    seen = await studio(berth, sessionId);
    if (finals.includes(seen.statusInfo.status) && seen.statusInfo.status !== 'running') {
      throw new Error(`studio ended ${seen.statusInfo.status}: ${seen.statusInfo.message}\n${JSON.stringify(seen.progress, null, 1)}`);
    }
    return seen.statusInfo.status === status;
  }, timeoutMs, 100);
  return seen!;
}
