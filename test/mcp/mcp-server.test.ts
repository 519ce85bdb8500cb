import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../support/containers.ts';
import { startDistribution, type Distribution } from '../support/distribution.ts';
import { ociReference, twoPlatforms, writeOciLayout, type GeneratedLayout } from '../support/oci-image.ts';

const berthBin = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));

const toolNames = [
  'CheckContainerAvailability',
  'CloneContainerToECR',
  'CreateECRPullThroughCache',
  'GenerateContainerRegistryMap',
  'GrantHealthOmicsECRAccess',
  'GrantRepositoryAccess',
  'ListECRPullThroughCacheRules',
  'ValidateECRConfiguration',
];

describe('berth mcp: the toolbox over MCP (stdio), driven by the MCP SDK client', () => {
  let berth: TestBerth;
  let upstream: Distribution;
  let scratch: string;
  let image: GeneratedLayout;
  let client: Client;

  const call = async <T = Record<string, unknown>>(name: string, args: Record<string, unknown>, onprogress?: (progress: { progress: number }) => void) => {
    const result = (await client.callTool({ name, arguments: args }, undefined, onprogress ? { onprogress } : undefined)) as CallToolResult;
    assert.ok(!result.isError, `${name} failed: ${JSON.stringify(result.content)}`);
    const text = result.content.find((part) => part.type === 'text');
    assert.ok(text && text.type === 'text');
    const parsed = JSON.parse(text.text) as T;
    assert.deepEqual(result.structuredContent, parsed, 'the structured content is the same result');
    return parsed;
  };

  before(async () => {
    berth = await startBerth();
    upstream = await startDistribution();
    scratch = await scratchDir('mcp');
    image = await writeOciLayout({ dir: join(scratch, 'multi'), layers: 3, layerBytes: 64 * 1024, platforms: twoPlatforms });
    await skopeo(['copy', '--all', '--dest-tls-verify=false', ociReference(image), `docker://${upstream.host}/team/multi:1`]);
    await berth.user('bob');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [berthBin, 'mcp', '--workspace', 'admin'],
      env: { PATH: process.env.PATH ?? '', HOME: scratch, BERTH_URL: berth.url, BERTH_TOKEN: berth.adminToken },
      stderr: 'pipe',
    });
    client = new Client({ name: 'berth-test', version: '1.0.0' });
    await client.connect(transport);
  });
  after(async () => {
    await client?.close();
    await berth?.close();
    await upstream?.stop();
    await removeDir(scratch);
  });

  it('lists every tool, each with a described JSON schema for its input', async () => {
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((tool) => tool.name).sort(), toolNames);
    for (const tool of tools) {
      assert.equal(tool.inputSchema.type, 'object', tool.name);
      assert.ok(tool.description && tool.description.length > 20, tool.name);
      for (const [field, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
        assert.ok((schema as { description?: string }).description, `${tool.name}.${field} has a description`);
      }
    }
  });

  it('CloneContainerToECR copies a two-platform image into Berth, digest kept, with progress notifications', async () => {
    const progress: number[] = [];
    const result = await call<{ totals: Record<string, number> }>(
      'CloneContainerToECR',
      { source: `${upstream.host}/team/multi:1`, target: `${berth.host}/admin/cloned/multi:1` },
      (update) => progress.push(update.progress),
    );
    assert.ok(result.totals);
    assert.ok(progress.length > 0, 'progress was reported');
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress only grows');
    const copied = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds('admin', berth.adminToken), `docker://${berth.host}/admin/cloned/multi:1`]);
    assert.equal(copied.stdout, await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${upstream.host}/team/multi:1`]).then((r) => r.stdout));
  });

  it('CheckContainerAvailability finds the clone with its digest and platforms', async () => {
    const result = await call<{ available: boolean; digest: string; platforms: unknown[] }>('CheckContainerAvailability', { repositoryName: 'cloned/multi', imageTag: '1' });
    assert.equal(result.available, true);
    assert.equal(result.digest, image.top.digest);
    assert.equal(result.platforms.length, 2);
  });

  it('GrantRepositoryAccess and GrantHealthOmicsECRAccess write their statements', async () => {
    const granted = await call<{ policy: { Statement: unknown[] } }>('GrantRepositoryAccess', { repositoryName: 'cloned/multi', principal: 'bob', actions: 'pull' });
    assert.equal(granted.policy.Statement.length, 1);
    const omics = await call<{ policy?: { Statement: unknown[] } }>('GrantHealthOmicsECRAccess', { repositoryName: 'cloned/multi' });
    assert.ok(JSON.stringify(omics).includes('omics.amazonaws.com'));
  });

  it('CreateECRPullThroughCache, ListECRPullThroughCacheRules and ValidateECRConfiguration', async () => {
    await call('CreateECRPullThroughCache', { upstream: upstream.url, ecrRepositoryPrefix: 'mirror' });
    const listed = await call<{ rules: Array<{ ecrRepositoryPrefix: string }> }>('ListECRPullThroughCacheRules', {});
    assert.deepEqual(listed.rules.map((rule) => rule.ecrRepositoryPrefix), ['mirror']);
    const validated = await call<{ checks: unknown[] }>('ValidateECRConfiguration', {});
    assert.ok(validated.checks.length > 0);
  });

  it('GenerateContainerRegistryMap maps a workflow folder', async () => {
    const workflow = join(scratch, 'workflow');
    await mkdir(workflow, { recursive: true });
    await writeFile(join(workflow, 'main.nf'), "process align {\n  container 'quay.io/biocontainers/samtools:1.19--h50ea8bc_0'\n  script:\n  'samtools --version'\n}\n");
    const result = await call<{ map: Record<string, string> }>('GenerateContainerRegistryMap', { workflowDir: workflow, registry: `${berth.host}/admin`, format: 'flat' });
    assert.deepEqual(result.map, { 'quay.io/biocontainers/samtools:1.19--h50ea8bc_0': `${berth.host}/admin/quay/biocontainers/samtools:1.19--h50ea8bc_0` });
  });

  it('a failure is a tool error with the toolbox code and message, and the server goes on', async () => {
    const result = (await client.callTool({ name: 'GrantRepositoryAccess', arguments: { repositoryName: 'nothing/here', principal: 'bob', actions: 'pull' } })) as CallToolResult;
    assert.equal(result.isError, true);
    const text = result.content.find((part) => part.type === 'text');
    assert.match(text && text.type === 'text' ? text.text : '', /^NOT_FOUND: /);
    const { tools } = await client.listTools();
    assert.equal(tools.length, toolNames.length);
  });
});
