/**
 * The tunnel between a session's agent and a connect server, as both ends speak it.
 *
 * 1. The agent dials out: `GET /connect/v1/tunnel` with `Connection: Upgrade`, `Upgrade: berth-tunnel/1`,
 *    `Berth-Session-Id: <id>` and `Authorization: Bearer <agent token>`, over http or https. The server
 *    answers `101 Switching Protocols` (or a 4xx JSON error the agent prints and, for 401/403/404, does not retry).
 * 2. On that socket the roles turn round: the agent is the HTTP/2 server, the connect server the HTTP/2
 *    client. HTTP/2 multiplexes every request of every browser over the one connection, with per-stream
 *    flow control, so a slow download cannot stall a WebSocket beside it.
 * 3. Streams the server opens:
 *    - `GET /_berth/agent/events`: the agent answers 200 and writes one JSON `AgentEvent` per line for as
 *      long as the tunnel lives; its first line is the current status.
 *    - `CONNECT` (`:authority` = `tool`): a raw byte pipe to the tool's TCP port. The proxy writes an
 *      HTTP/1.1 upgrade request (WebSocket) into it and relays whatever comes back.
 *    - anything else: an HTTP request for the tool, sent by the agent to `127.0.0.1:$CONNECT_TOOL_PORT`
 *      with the same method, path and headers; the answer streams back as the stream's response.
 * 4. The server pings every `connect.pingIntervalS`; an agent that hears nothing for three periods
 *    drops the socket and dials again with backoff.
 */
export const tunnelPath = '/connect/v1/tunnel';
export const tunnelUpgradeToken = 'berth-tunnel/1';
export const sessionIdHeader = 'berth-session-id';
export const eventsPath = '/_berth/agent/events';
export const toolAuthority = 'tool';
/** Response header of the 101: the server's ping period in seconds, so the agent knows when silence means death. */
export const pingIntervalHeader = 'berth-ping-interval';

/**
 * Flow-control windows of both ends. HTTP/2's default 64 KiB window would cap one stream at one window per
 * round trip; 8 MiB per stream lets a 1 MiB response flow without waiting for WINDOW_UPDATEs.
 */
export const tunnelWindowBytes = 32 * 1024 * 1024;
export const tunnelSettings = {
  initialWindowSize: 8 * 1024 * 1024,
  maxConcurrentStreams: 100_000,
  enableConnectProtocol: false,
};

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

/** HTTP/1.1 headers that describe one hop and must not cross the tunnel (HTTP/2 forbids them). */
export const hopByHopHeaders = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
  'host',
]);
