/** What the upstream serves, shared with the benchmark so that it can check each proxy passes it unchanged. */
export const smallBody = Buffer.from('hello\n');

/** 1 MiB of a fixed, non-repeating-per-chunk pattern: a proxy that drops or reorders a chunk is caught. */
export const largeBody = Buffer.from(Array.from({ length: 1024 * 1024 }, (_, i) => (i * 7 + (i >> 12)) & 0xff));

export const upstreamPaths = { small: '/small', large: '/1mib', echo: '/echo' } as const;
