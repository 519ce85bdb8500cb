import { RegistryError } from '../errors.ts';
import type { Page } from '../repository-index.ts';

const maxPageSize = 10_000;

/** Reads `n` and `last` of a list request. */
export function readPage(url: URL): Page {
  const n = url.searchParams.get('n');
  const last = url.searchParams.get('last') ?? undefined;
  if (n === null || n === '') return { last };
  if (!/^\d+$/.test(n)) throw new RegistryError('PaginationInvalid', `n must be a non-negative integer (got "${n.slice(0, 20)}")`);
  return { n: Math.min(Number(n), maxPageSize), last };
}

/** The RFC 5988 `Link` header to the next page, when this page was full. */
export function nextLink(path: string, page: Page, items: string[]): Record<string, string> {
  if (page.n === undefined || page.n === 0 || items.length < page.n) return {};
  const next = new URLSearchParams({ n: String(page.n), last: items[items.length - 1]! });
  return { Link: `<${path}?${next}>; rel="next"` };
}
