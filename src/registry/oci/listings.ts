import { replyJson, type OciContext } from './context.ts';
import { nextLink, readPage } from './paging.ts';

/** GET /v2/<name>/tags/list[?n=&last=]: tags in lexical order, paged with a `Link` header. */
export async function listTags(ctx: OciContext): Promise<void> {
  const { registry } = ctx.services;
  const repository = await registry.existing(ctx.name);
  const page = readPage(ctx.url);
  const tags = page.n === 0 ? [] : await registry.tags(repository, page);
  replyJson(ctx, 200, { name: ctx.name.full, tags }, nextLink(`/v2/${ctx.name.full}/tags/list`, page, tags));
}

/** GET /v2/_catalog[?n=&last=]: the repositories the caller may pull, paged the same way. */
export async function listCatalog(ctx: OciContext): Promise<void> {
  const { registry, access } = ctx.services;
  const page = readPage(ctx.url);
  const filter = await access.catalogFilter(ctx.principal);
  const repositories = page.n === 0 ? [] : await registry.catalog(filter, page);
  replyJson(ctx, 200, { repositories }, nextLink('/v2/_catalog', page, repositories));
}
