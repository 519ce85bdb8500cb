import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * Many byte streams over one socket, each flow-controlled on its own: the tunnel's framing.
 *
 * A frame is a 9-byte header — type (1 byte), stream id (4), payload length (4), big-endian — and its
 * payload. The connect server opens streams (odd ids); each is a raw byte pipe to the tool's port, so the
 * agent relays bytes and never parses HTTP. A sender may have at most `windowBytes` unacknowledged on a
 * stream; the receiver returns credit (WINDOW) as its reader consumes, so one slow reader holds back only
 * its own stream, never the socket.
 */
const enum FrameType {
  Open = 0,
  Data = 1,
  Fin = 2,
  Reset = 3,
  Window = 4,
  Event = 5,
  Ping = 6,
  Pong = 7,
}

const headerBytes = 9;
const maxDataFrame = 256 * 1024;
const maxControlFrame = 64 * 1024;
/** Credit of a new stream in each direction: a 1 MiB answer flows without waiting for credit. */
export const windowBytes = 2 * 1024 * 1024;
/** Consumed bytes are acknowledged once this many have been read (the sender still has the rest of its window). */
const grantBatchBytes = windowBytes / 4;
/**
 * Bytes the socket may hold in Node's buffer, for all streams together, before a stream's writer waits for
 * it to drain: credit alone would let every stream queue its whole window here (100 MiB for 50 streams).
 */
const socketBacklogBytes = 1024 * 1024;

/** Why a stream or the tunnel failed: the tunnel closed, the peer reset the stream, or the peer broke the protocol. */
export class MultiplexerError extends Error {
  override readonly name = 'MultiplexerError';
  constructor(
    message: string,
    readonly reason: 'closed' | 'reset' | 'protocol',
  ) {
    super(message);
  }
}

export interface MultiplexerEvents {
  /** A stream the peer opened. */
  stream: [MuxStream];
  /** An EVENT frame's text. */
  event: [string];
  ping: [];
  close: [];
}

/** One end of the multiplexed socket. `opener` ends allocate stream ids; the other end accepts. */
export class Multiplexer extends EventEmitter<MultiplexerEvents> {
  private readonly streams = new Map<number, MuxStream>();
  private nextId = 1;
  private header: Buffer = Buffer.alloc(0);
  private current: { type: FrameType; id: number; remaining: number; control: Buffer[] } | undefined;
  private corked = false;
  private readonly pongs: Array<() => void> = [];
  /** Writers waiting for the socket's backlog to drain. */
  private readonly drainWaiters: Array<(error?: Error | null) => void> = [];
  closed = false;

  constructor(private readonly socket: Socket) {
    super();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => undefined);
    socket.once('end', () => socket.destroy());
    socket.once('close', () => this.shutDown(new MultiplexerError('the tunnel closed', 'closed')));
    socket.on('drain', () => this.drained());
  }

  /** Opens a stream to the peer (the connect server's side). */
  open(): MuxStream {
    if (this.closed) throw new MultiplexerError('the tunnel is closed', 'closed');
    const id = this.nextId;
    this.nextId += 2;
    const stream = new MuxStream(this, id);
    this.streams.set(id, stream);
    this.send(FrameType.Open, id);
    return stream;
  }

  sendEvent(text: string, written?: (error?: Error | null) => void): void {
    this.send(FrameType.Event, 0, Buffer.from(text, 'utf8'), written);
  }

  /** Resolves when the peer answers; rejects if the tunnel closes first. */
  ping(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new MultiplexerError('the tunnel is closed', 'closed'));
      this.pongs.push(resolve);
      this.send(FrameType.Ping, 0);
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** @internal frames of a stream */
  send(type: FrameType, id: number, payload?: Buffer, written?: (error?: Error | null) => void): void {
    if (this.closed || this.socket.destroyed) {
      written?.(new MultiplexerError('the tunnel is closed', 'closed'));
      return;
    }
    const header = Buffer.allocUnsafe(headerBytes);
    header.writeUInt8(type, 0);
    header.writeUInt32BE(id, 1);
    header.writeUInt32BE(payload?.length ?? 0, 5);
    // frames written within one tick leave in one system call
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    if (payload && payload.length > 0) {
      this.socket.write(header);
      this.socket.write(payload, written);
    } else {
      this.socket.write(header, written);
    }
  }

  /** @internal calls back once the socket's backlog is small enough for a stream to write more */
  whenWritable(callback: (error?: Error | null) => void): void {
    if (this.closed) return callback(new MultiplexerError('the tunnel is closed', 'closed'));
    // Over the limit, the last write returned false, so the socket emits 'drain' once its buffer is empty.
    if (this.socket.writableLength <= socketBacklogBytes) return callback();
    this.drainWaiters.push(callback);
  }

  private drained(): void {
    for (const callback of this.drainWaiters.splice(0)) callback();
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
  }

  private receive(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.closed) {
      if (!this.current) {
        const needed = headerBytes - this.header.length;
        const taken = chunk.subarray(offset, offset + needed);
        offset += taken.length;
        this.header = this.header.length === 0 ? taken : Buffer.concat([this.header, taken]);
        if (this.header.length < headerBytes) return;
        const type = this.header.readUInt8(0) as FrameType;
        const id = this.header.readUInt32BE(1);
        const length = this.header.readUInt32BE(5);
        this.header = Buffer.alloc(0);
        if (length > (type === FrameType.Data ? maxDataFrame : maxControlFrame)) return this.violation(`a frame of ${length} bytes`);
        this.current = { type, id, remaining: length, control: [] };
      }
      const frame = this.current;
      const piece = chunk.subarray(offset, offset + frame.remaining);
      offset += piece.length;
      frame.remaining -= piece.length;
      if (frame.type === FrameType.Data) {
        if (piece.length > 0) this.streams.get(frame.id)?.deliver(piece);
      } else if (piece.length > 0) {
        frame.control.push(piece);
      }
      if (frame.remaining > 0) return;
      this.current = undefined;
      if (frame.type !== FrameType.Data) this.control(frame.type, frame.id, Buffer.concat(frame.control));
    }
  }

  private control(type: FrameType, id: number, payload: Buffer): void {
    switch (type) {
      case FrameType.Open: {
        if (this.streams.has(id) || id % 2 === 0) return this.violation(`stream ${id} opened twice or by the wrong end`);
        const stream = new MuxStream(this, id);
        this.streams.set(id, stream);
        this.emit('stream', stream);
        return;
      }
      case FrameType.Fin:
        return this.streams.get(id)?.remoteFinished();
      case FrameType.Reset:
        return this.streams.get(id)?.remoteReset(payload.toString('utf8'));
      case FrameType.Window:
        return payload.length === 4 ? this.streams.get(id)?.credit(payload.readUInt32BE(0)) : this.violation('a WINDOW frame without its credit');
      case FrameType.Event:
        this.emit('event', payload.toString('utf8'));
        return;
      case FrameType.Ping:
        this.send(FrameType.Pong, 0);
        this.emit('ping');
        return;
      case FrameType.Pong:
        this.pongs.shift()?.();
        return;
      default:
        return this.violation(`frame type ${type as number}`);
    }
  }

  private violation(what: string): void {
    this.shutDown(new MultiplexerError(`protocol violation: ${what}`, 'protocol'));
    this.socket.destroy();
  }

  private shutDown(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.streams.values()) stream.destroy(error);
    this.streams.clear();
    this.pongs.length = 0;
    for (const callback of this.drainWaiters.splice(0)) callback(error);
    this.emit('close');
  }
}

/**
 * One stream of the multiplexer, a Duplex that also answers the socket methods an `http.Agent` calls on
 * the connections it keeps alive (it is one, to the tool).
 */
export class MuxStream extends Duplex {
  private sendCredit = windowBytes;
  private receivedSinceGrant = 0;
  private waiting: { chunk: Buffer; callback: (error?: Error | null) => void } | undefined;
  private resetByPeer = false;
  private resetReason: string | undefined;

  constructor(
    private readonly mux: Multiplexer,
    readonly id: number,
  ) {
    super({ allowHalfOpen: false, highWaterMark: 256 * 1024 });
  }

  /** @internal bytes from the peer */
  deliver(piece: Buffer): void {
    this.receivedSinceGrant += piece.length;
    this.push(piece);
  }

  /** @internal */
  remoteFinished(): void {
    this.push(null);
  }

  /** @internal */
  remoteReset(reason: string): void {
    this.resetByPeer = true;
    this.destroy(new MultiplexerError(reason || 'the stream was reset', 'reset'));
  }

  /** @internal */
  credit(bytes: number): void {
    this.sendCredit += bytes;
    const waiting = this.waiting;
    if (!waiting) return;
    this.waiting = undefined;
    this._write(waiting.chunk, 'binary', waiting.callback);
  }

  override _read(): void {
    // credit goes back in batches: a WINDOW frame per chunk read would cost a system call per 64 KiB
    if (this.receivedSinceGrant < grantBatchBytes) return;
    const grant = Buffer.allocUnsafe(4);
    grant.writeUInt32BE(this.receivedSinceGrant, 0);
    this.receivedSinceGrant = 0;
    this.mux.send(FrameType.Window, this.id, grant);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let offset = 0;
    while (offset < chunk.length && this.sendCredit > 0) {
      const size = Math.min(chunk.length - offset, this.sendCredit, maxDataFrame);
      this.mux.send(FrameType.Data, this.id, chunk.subarray(offset, offset + size));
      this.sendCredit -= size;
      offset += size;
    }
    if (offset < chunk.length) this.waiting = { chunk: chunk.subarray(offset), callback };
    else this.mux.whenWritable(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.mux.send(FrameType.Fin, this.id);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.mux.forget(this.id);
    if (!this.resetByPeer && !(this.readableEnded && this.writableFinished)) {
      this.mux.send(FrameType.Reset, this.id, Buffer.from(this.resetReason ?? error?.message ?? '', 'utf8'));
    }
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.callback(error ?? new MultiplexerError('the stream was closed', 'closed'));
    callback(error);
  }

  /** Resets the stream with a reason the peer sees (e.g. why the tool could not be reached). */
  reset(reason: string): void {
    this.resetReason = reason;
    this.destroy();
  }

  // what http.Agent calls on a kept-alive connection
  setKeepAlive(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
