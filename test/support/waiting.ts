/**
 * Polls `probe` until it yields a value other than undefined (or false), and returns it; after `timeoutMs`
 * throws an error naming `what`. For states reached asynchronously (a process up, a status recorded),
 * never for asserting how long something takes.
 */
export async function eventually<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
