import { lookup } from 'node:dns/promises';
import { connect } from 'node:tls';

const probeTimeoutMs = 5_000;

/** A host name's first address (what a browser would connect to); rejects when it does not resolve (or not within 5 s). */
export async function lookupHost(name: string): Promise<string> {
  return (await withTimeout(lookup(name), probeTimeoutMs, `${name} did not resolve within ${probeTimeoutMs / 1000} s`)).address;
}

/** `work`, or a rejection with `message` once `ms` have passed: a probe of the network must not hang the doctor. */
export function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A TLS handshake with `host:port` presenting `servername` (SNI), verified against the system's CAs:
 * resolves when the certificate is valid for that name, rejects with the reason otherwise.
 */
export function probeTls(host: string, port: number, servername: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, servername, timeout: probeTimeoutMs }, () => {
      socket.end();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`no TLS answer from ${host}:${port} within ${probeTimeoutMs / 1000} s`));
    });
    socket.once('error', (error) => reject(error));
  });
}
