/**
 * The tunnel between a session's agent and a connect server, as both ends speak it.
 *
 * 1. The agent dials out: `GET /connect/v1/tunnel` with `Connection: Upgrade`, `Upgrade: berth-tunnel/1`,
 *    `Berth-Session-Id: <id>` and `Authorization: Bearer <agent token>`, over http or https. The server
 *    answers `101 Switching Protocols` (or a 4xx JSON error the agent prints and, for 401/403/404, does not retry).
 * 2. On that socket both ends speak the multiplexer's framing (multiplexer.ts): many byte streams over the
 *    one connection, each with its own flow-control window, so a slow download cannot stall a WebSocket.
 * 3. The server opens a stream per connection it wants to the tool; the agent connects it to
 *    `127.0.0.1:$CONNECT_TOOL_PORT` and relays bytes. The server speaks HTTP/1.1 over these streams and keeps
 *    them alive like any upstream connections; an upgrade (WebSocket) gets a stream of its own. A tool that
 *    does not listen resets the stream with the reason.
 * 4. The agent sends its status and activity as EVENT frames (one JSON `AgentEvent` each), its current
 *    status first on every connection.
 * 5. The server pings every `connect.pingIntervalS` and drops a tunnel that misses a whole period; an
 *    agent that hears no ping for three periods drops the socket and dials again with backoff.
 */
export const tunnelPath = '/connect/v1/tunnel';
export const tunnelUpgradeToken = 'berth-tunnel/1';
export const sessionIdHeader = 'berth-session-id';
/** Response header of the 101: the server's ping period in seconds, so the agent knows when silence means death. */
export const pingIntervalHeader = 'berth-ping-interval';

/** What the agent says about its tool. */
export type AgentStatus = 'starting' | 'running' | 'stopped';

export type AgentEvent =
  /** `running` only once the tool accepts TCP connections; `stopped` carries how the tool ended. */
  | { type: 'status'; status: AgentStatus; exitCode?: number | null; signal?: string | null; message?: string }
  /** The last byte to or from the tool (ms since the epoch), sent at most every few seconds while traffic flows. */
  | { type: 'activity'; at: number };

/** Reads one line of the events stream; undefined for anything that is not an AgentEvent. */
export function parseAgentEvent(line: string): AgentEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const event = value as Record<string, unknown>;
  if (event.type === 'activity' && typeof event.at === 'number') return { type: 'activity', at: event.at };
  if (event.type !== 'status' || !['starting', 'running', 'stopped'].includes(event.status as string)) return undefined;
  return {
    type: 'status',
    status: event.status as AgentStatus,
    exitCode: typeof event.exitCode === 'number' ? event.exitCode : null,
    signal: typeof event.signal === 'string' ? event.signal : null,
    ...(typeof event.message === 'string' ? { message: event.message.slice(0, 1000) } : {}),
  };
}
