/**
 * Serialises work on one digest inside this process: committing a blob and garbage-collecting it
 * must never interleave, or a blob could be deleted right after it was written.
 */
export class DigestLocks {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(digest: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(digest) ?? Promise.resolve();
    const current = previous.then(work, work);
    const tail = current.catch(() => undefined);
    this.tails.set(digest, tail);
    try {
      return await current;
    } finally {
      if (this.tails.get(digest) === tail) this.tails.delete(digest);
    }
  }
}
