import { connect } from 'node:net';
import type { ActivityMeter } from './activity-meter.ts';
import type { MuxStream } from './multiplexer.ts';

/**
 * A tunnel stream becomes one TCP connection to the tool, bytes relayed both ways: the agent never parses
 * HTTP (the connect server speaks it to the tool through the stream, keeping connections alive).
 * A tool that does not listen resets the stream with the reason the proxy shows.
 */
export function pipeToTool(stream: MuxStream, toolPort: number, activity: ActivityMeter): void {
  activity.touch();
  const socket = connect({ host: '127.0.0.1', port: toolPort });
  socket.setNoDelay(true);
  let connected = false;
  socket.once('connect', () => {
    connected = true;
    if (stream.destroyed) return socket.destroy();
    socket.pipe(stream);
    stream.pipe(socket);
    // only now: a 'data' listener puts a stream in flowing mode, and bytes must wait for the connection
    socket.on('data', () => activity.touch());
    stream.on('data', () => activity.touch());
  });
  socket.on('error', (error) => {
    const code = (error as NodeJS.ErrnoException).code ?? error.message;
    stream.reset(connected ? `the connection to the tool failed (${code})` : `the tool is not answering on port ${toolPort} (${code})`);
  });
  stream.on('error', () => socket.destroy());
}
