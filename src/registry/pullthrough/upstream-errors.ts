/**
 * Failures of an upstream registry, as `UpstreamRegistry` reports them. Each says which upstream
 * failed and what to do about it; the pull-through cache decides from the class whether to serve
 * a cached copy (unreachable, rate limited) or to pass the refusal on (not found, unauthorized).
 * Catch `UpstreamError` to handle them all.
 */
export abstract class UpstreamError extends Error {
  constructor(
    /** Base URL of the upstream, without credentials. */
    readonly upstream: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The upstream could not be reached: connection refused, DNS failure, timeout, or a 502/503/504 gateway answer. */
export class UpstreamUnreachable extends UpstreamError {}

/** The upstream refused us (401 or 403) after we answered its challenge, or its token server refused our credentials. */
export class UpstreamUnauthorized extends UpstreamError {}

/** The upstream does not have the repository, manifest or blob. */
export class UpstreamNotFound extends UpstreamError {}

/** The upstream answered 429. */
export class UpstreamRateLimited extends UpstreamError {
  constructor(
    upstream: string,
    message: string,
    /** Seconds to wait, from `Retry-After` (seconds or an HTTP date); undefined when the upstream gave none. */
    readonly retryAfterSeconds: number | undefined,
  ) {
    super(upstream, message);
  }
}

/** The upstream answered something a registry should not: an unexpected status, header or body. */
export class UpstreamProtocolError extends UpstreamError {
  constructor(
    upstream: string,
    message: string,
    /** The HTTP status, when the problem came with one. */
    readonly status?: number,
  ) {
    super(upstream, message);
  }
}
