import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ToolboxError, withFaceDefaults, type ProgressEvent, type ToolboxContext, type ToolboxOperation } from '../toolbox/toolbox-operation.ts';

/** What the MCP face asks of whoever starts it: a context for each tool call (its cancellation and progress). */
export type McpContextFactory = (call: { signal: AbortSignal; progress: (event: ProgressEvent) => void }) => ToolboxContext;

/** Progress notifications are sent at most this often; a clone reports every chunk. */
const progressIntervalMs = 250;

/**
 * The toolbox as an MCP server: every operation with an MCP tool name becomes a tool whose input schema is
 * the operation's own, whose result is the operation's JSON (as text and as structured content), and whose
 * failures are tool errors with the toolbox's message. Long operations send progress notifications when the
 * client asked for them.
 */
export function createMcpServer(
  operations: readonly ToolboxOperation[],
  contextFor: McpContextFactory,
  options: { version: string; /** Inputs the server was started with (`--workspace`), for the tools that take them. */ inputDefaults?: Record<string, unknown> },
): McpServer {
  const server = new McpServer({ name: 'berth', version: options.version });
  for (const operation of operations) {
    if (!operation.mcpTool) continue;
    server.registerTool(operation.mcpTool, { title: operation.name, description: operation.summary, inputSchema: operation.input }, async (input, extra) => {
      const progress = progressNotifier(extra._meta?.progressToken, (params) => extra.sendNotification({ method: 'notifications/progress', params }));
      try {
        const result = await operation.run(withFaceDefaults(operation, input, options.inputDefaults ?? {}), contextFor({ signal: extra.signal, progress }));
        return resultOf(result);
      } catch (error) {
        if (error instanceof ToolboxError) return failure(`${error.code}: ${error.message}`, error.detail);
        throw error;
      }
    });
  }
  return server;
}

function resultOf(result: unknown): CallToolResult {
  const text = JSON.stringify(result, null, 2);
  const structured = typeof result === 'object' && result !== null && !Array.isArray(result) ? (result as Record<string, unknown>) : undefined;
  return { content: [{ type: 'text', text }], ...(structured && { structuredContent: structured }) };
}

function failure(message: string, detail: Record<string, unknown> | undefined): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: detail ? `${message}\n${JSON.stringify(detail, null, 2)}` : message }] };
}

interface ProgressParams {
  progressToken: string | number;
  progress: number;
  total?: number;
  message?: string;
}

/**
 * Folds the toolbox's events into MCP progress: bytes done of all transfers plus steps taken (MCP wants a
 * number that only grows), the total bytes when known, and the latest step as the message.
 */
function progressNotifier(token: string | number | undefined, send: (params: ProgressParams) => Promise<void>): (event: ProgressEvent) => void {
  if (token === undefined) return () => undefined;
  const transfers = new Map<string, { done: number; total: number }>();
  let steps = 0;
  let message: string | undefined;
  let lastSent = 0;
  let reported = 0;
  return (event) => {
    if (event.kind === 'step') {
      steps += 1;
      message = event.message;
    } else transfers.set(event.id, { done: event.doneBytes, total: event.totalBytes });
    const now = Date.now();
    if (event.kind === 'transfer' && now - lastSent < progressIntervalMs) return;
    let done = 0;
    let total = 0;
    for (const transfer of transfers.values()) {
      done += transfer.done;
      total += transfer.total;
    }
    if (done + steps <= reported) return;
    reported = done + steps;
    lastSent = now;
    void send({ progressToken: token, progress: reported, ...(total > 0 && { total: total + steps }), ...(message && { message }) }).catch(() => undefined);
  };
}
