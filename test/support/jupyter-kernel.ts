import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';

/** Sends an execute_request on the shell channel and resolves with the text/plain of its execute_result. */
export function executeInKernel(socket: WebSocket, code: string): Promise<string> {
  const msgId = randomUUID();
  const request = {
    header: { msg_id: msgId, username: 'berth-test', session: randomUUID(), msg_type: 'execute_request', version: '5.3', date: new Date().toISOString() },
    parent_header: {},
    metadata: {},
    content: { code, silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
    channel: 'shell',
    buffers: [],
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no execute_result within 30 s')), 30_000);
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { msg_type: string; parent_header: { msg_id?: string }; content: { data?: Record<string, string>; ename?: string } };
      if (message.parent_header.msg_id !== msgId) return;
      if (message.msg_type === 'error') reject(new Error(`kernel error ${message.content.ename}`));
      if (message.msg_type !== 'execute_result') return;
      clearTimeout(timer);
      resolve(message.content.data?.['text/plain'] ?? '');
    });
    socket.send(JSON.stringify(request));
  });
}

