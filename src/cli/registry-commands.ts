import type { Command } from 'commander';
import { clientFor, integer, textFrom } from './arguments.ts';
import { CliError } from './client.ts';
import { printTable } from './output.ts';

interface RepositoryView {
  repositoryName: string;
  repositoryUri: string;
  imageTagMutability: string;
  imageScanningConfiguration: { scanOnPush: boolean };
  createdAt: number;
}

interface ImageView {
  imageDigest: string;
  imageTags?: string[];
  imageSizeInBytes: number;
  imagePushedAt: number;
  lastRecordedPullTime?: number;
}

const when = (seconds: number | undefined) => (seconds ? new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, 'Z') : '');
const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
const print = (json: boolean | undefined, value: unknown, table: () => void) => (json ? console.log(JSON.stringify(value, null, 2)) : table());

/**
 * `berth registry …`: repositories, images, policies and lifecycle through the same operations
 * as the ECR API, garbage collection and visibility through the management API.
 */
export function registryCommands(registry: Command): void {
  const ws = (c: Command) => c.option('--workspace <slug>', 'the workspace (default: your personal one)').option('--json', 'print JSON');
  type Options = { workspace?: string; json?: boolean };

  const repos = registry.command('repos').description('repositories');
  ws(repos.command('list')).action(async (o: Options, c: Command) => {
    const { repositories } = await clientFor(c).ecr<{ repositories: RepositoryView[] }>('DescribeRepositories', {}, o.workspace);
    print(o.json, repositories, () =>
      printTable(['NAME', 'URI', 'TAGS', 'SCAN ON PUSH', 'CREATED'], repositories.map((r) => [r.repositoryName, r.repositoryUri, r.imageTagMutability, r.imageScanningConfiguration.scanOnPush ? 'yes' : '', when(r.createdAt)])),
    );
  });
  ws(repos.command('create <name>'))
    .option('--immutable', 'tags cannot be moved once pushed')
    .option('--scan-on-push', 'record a scan for every push')
    .action(async (name: string, o: Options & { immutable?: boolean; scanOnPush?: boolean }, c: Command) => {
      const { repository } = await clientFor(c).ecr<{ repository: RepositoryView }>(
        'CreateRepository',
        { repositoryName: name, imageTagMutability: o.immutable ? 'IMMUTABLE' : 'MUTABLE', imageScanningConfiguration: { scanOnPush: o.scanOnPush ?? false } },
        o.workspace,
      );
      print(o.json, repository, () => console.log(`created ${repository.repositoryUri}`));
    });
  ws(repos.command('delete <name>'))
    .option('--force', 'also when it still holds images')
    .action(async (name: string, o: Options & { force?: boolean }, c: Command) => {
      await clientFor(c).ecr('DeleteRepository', { repositoryName: name, force: o.force ?? false }, o.workspace);
      console.log(`deleted ${name}`);
    });

  const images = registry.command('images').description('images of a repository');
  ws(images.command('list <repository>')).action(async (repository: string, o: Options, c: Command) => {
    const { imageDetails } = await clientFor(c).ecr<{ imageDetails: ImageView[] }>('DescribeImages', { repositoryName: repository }, o.workspace);
    print(o.json, imageDetails, () =>
      printTable(['TAGS', 'DIGEST', 'SIZE', 'PUSHED', 'LAST PULLED'], imageDetails.map((i) => [(i.imageTags ?? []).join(','), i.imageDigest.slice(0, 19), mib(i.imageSizeInBytes), when(i.imagePushedAt), when(i.lastRecordedPullTime)])),
    );
  });
  ws(images.command('delete <repository> <tagOrDigest...>')).action(async (repository: string, refs: string[], o: Options, c: Command) => {
    const imageIds = refs.map((ref) => (ref.includes(':') ? { imageDigest: ref } : { imageTag: ref }));
    const result = await clientFor(c).ecr<{ imageIds: unknown[]; failures: Array<{ imageId: unknown; failureReason: string }> }>('BatchDeleteImage', { repositoryName: repository, imageIds }, o.workspace);
    print(o.json, result, () => {
      console.log(`deleted ${result.imageIds.length} image ids`);
      for (const f of result.failures) console.log(`  failed: ${JSON.stringify(f.imageId)}: ${f.failureReason}`);
    });
    if (result.failures.length) process.exitCode = 1;
  });

  const policy = registry.command('policy').description('repository policies (IAM-style JSON)');
  ws(policy.command('get <repository>')).action(async (repository: string, o: Options, c: Command) => {
    const result = await clientFor(c).ecr<{ policyText: string }>('GetRepositoryPolicy', { repositoryName: repository }, o.workspace);
    print(o.json, result, () => console.log(JSON.stringify(JSON.parse(result.policyText), null, 2)));
  });
  ws(policy.command('set <repository>'))
    .option('--file <file>', 'policy JSON file, - for standard input')
    .option('--text <json>', 'policy JSON')
    .action(async (repository: string, o: Options & { file?: string; text?: string }, c: Command) => {
      await clientFor(c).ecr('SetRepositoryPolicy', { repositoryName: repository, policyText: textFrom(o, 'policy') }, o.workspace);
      console.log(`policy of ${repository} set`);
    });
  ws(policy.command('delete <repository>')).action(async (repository: string, o: Options, c: Command) => {
    await clientFor(c).ecr('DeleteRepositoryPolicy', { repositoryName: repository }, o.workspace);
    console.log(`policy of ${repository} deleted`);
  });

  const lifecycle = registry.command('lifecycle').description('lifecycle policies');
  ws(lifecycle.command('get <repository>')).action(async (repository: string, o: Options, c: Command) => {
    const result = await clientFor(c).ecr<{ lifecyclePolicyText: string }>('GetLifecyclePolicy', { repositoryName: repository }, o.workspace);
    print(o.json, result, () => console.log(JSON.stringify(JSON.parse(result.lifecyclePolicyText), null, 2)));
  });
  ws(lifecycle.command('put <repository>'))
    .option('--file <file>', 'lifecycle policy JSON file, - for standard input')
    .option('--text <json>', 'lifecycle policy JSON')
    .action(async (repository: string, o: Options & { file?: string; text?: string }, c: Command) => {
      await clientFor(c).ecr('PutLifecyclePolicy', { repositoryName: repository, lifecyclePolicyText: textFrom(o, 'lifecycle policy') }, o.workspace);
      console.log(`lifecycle policy of ${repository} set`);
    });
  ws(lifecycle.command('delete <repository>')).action(async (repository: string, o: Options, c: Command) => {
    await clientFor(c).ecr('DeleteLifecyclePolicy', { repositoryName: repository }, o.workspace);
    console.log(`lifecycle policy of ${repository} deleted`);
  });
  ws(lifecycle.command('preview <repository>'))
    .description('what the stored policy (or --file/--text) would expire now; deletes nothing')
    .option('--file <file>', 'a policy to try instead of the stored one')
    .option('--text <json>', 'a policy to try instead of the stored one')
    .action(async (repository: string, o: Options & { file?: string; text?: string }, c: Command) => {
      const client = clientFor(c);
      const text = o.file !== undefined || o.text !== undefined ? textFrom(o, 'lifecycle policy') : undefined;
      await client.ecr('StartLifecyclePolicyPreview', { repositoryName: repository, ...(text ? { lifecyclePolicyText: text } : {}) }, o.workspace);
      const preview = await client.ecr<{ previewResults: Array<{ imageDigest: string; imageTags?: string[]; imagePushedAt: number; appliedRulePriority: number }> }>(
        'GetLifecyclePolicyPreview',
        { repositoryName: repository },
        o.workspace,
      );
      print(o.json, preview, () => {
        printTable(['TAGS', 'DIGEST', 'PUSHED', 'RULE'], preview.previewResults.map((r) => [(r.imageTags ?? []).join(','), r.imageDigest.slice(0, 19), when(r.imagePushedAt), String(r.appliedRulePriority)]));
        console.log(`${preview.previewResults.length} images would expire`);
      });
    });
  lifecycle
    .command('run')
    .description('apply lifecycle policies now (all repositories, or one)')
    .option('--repository <name>', 'only this repository, as <workspace>/<name>')
    .option('--dry-run', 'only report what would expire')
    .option('--json', 'print JSON')
    .action(async (o: { repository?: string; dryRun?: boolean; json?: boolean }, c: Command) => {
      const report = await clientFor(c).call<{ repositories: number; expired: Array<{ repository: string; digest: string; tags: string[]; rulePriority: number }> }>(
        'POST',
        '/api/registry/lifecycle/run',
        { repository: o.repository, dryRun: o.dryRun ?? false },
      );
      print(o.json, report, () => {
        printTable(['REPOSITORY', 'DIGEST', 'TAGS', 'RULE'], report.expired.map((e) => [e.repository, e.digest.slice(0, 19), e.tags.join(','), String(e.rulePriority)]));
        console.log(`${o.dryRun ? 'would expire' : 'expired'} ${report.expired.length} images in ${report.repositories} repositories`);
      });
    });

  const rules = registry.command('cache-rules').description('pull-through cache rules (ECR style)');
  ws(rules.command('list')).action(async (o: Options, c: Command) => {
    const { pullThroughCacheRules } = await clientFor(c).ecr<{ pullThroughCacheRules: Array<{ ecrRepositoryPrefix: string; upstreamRegistryUrl: string; upstreamRegistry?: string; credentialArn?: string; createdAt: number }> }>(
      'DescribePullThroughCacheRules',
      {},
      o.workspace,
    );
    print(o.json, pullThroughCacheRules, () =>
      printTable(['PREFIX', 'UPSTREAM', 'KIND', 'CREDENTIAL', 'CREATED'], pullThroughCacheRules.map((r) => [r.ecrRepositoryPrefix, r.upstreamRegistryUrl, r.upstreamRegistry ?? 'oci', r.credentialArn?.split(':secret:')[1] ?? '', when(r.createdAt)])),
    );
  });
  ws(rules.command('create <prefix> <upstream>'))
    .description('cache <workspace>/<prefix>/… from UPSTREAM (docker-hub, quay, ghcr.io, https://host or http://host:port)')
    .option('--username <user>', 'log in upstream as this user; the password or token is read from standard input')
    .action(async (prefix: string, upstream: string, o: Options & { username?: string }, c: Command) => {
      const client = clientFor(c);
      const preset: Record<string, [string, string]> = {
        'docker-hub': ['registry-1.docker.io', 'docker-hub'],
        quay: ['quay.io', 'quay'],
        'ecr-public': ['public.ecr.aws', 'ecr-public'],
        'github-container-registry': ['ghcr.io', 'github-container-registry'],
        k8s: ['registry.k8s.io', 'k8s'],
        'gitlab-container-registry': ['registry.gitlab.com', 'gitlab-container-registry'],
      };
      const [upstreamRegistryUrl, upstreamRegistry] = preset[upstream] ?? [upstream, undefined];
      let credentialArn: string | undefined;
      if (o.username) {
        const secret = textFrom({ file: '-' }, 'upstream password').trim();
        const me = await client.call<{ user: { name: string }; workspaces: Array<{ slug: string; registryId: string }> }>('GET', '/api/me');
        const slug = o.workspace ?? me.user.name;
        const name = `ecr-pullthroughcache/${prefix.replaceAll('/', '-')}`;
        await client.call('POST', `/api/workspaces/${encodeURIComponent(slug)}/credentials`, { name, username: o.username, secret });
        const registryId = me.workspaces.find((w) => w.slug === slug)?.registryId ?? '000000000000';
        credentialArn = `arn:aws:secretsmanager:eu-west-2:${registryId}:secret:${name}`;
      }
      const rule = await client.ecr<{ ecrRepositoryPrefix: string; upstreamRegistryUrl: string }>(
        'CreatePullThroughCacheRule',
        { ecrRepositoryPrefix: prefix, upstreamRegistryUrl, ...(upstreamRegistry ? { upstreamRegistry } : {}), ...(credentialArn ? { credentialArn } : {}) },
        o.workspace,
      );
      print(o.json, rule, () => console.log(`pulls of ${prefix}/<name> now come from ${rule.upstreamRegistryUrl}/<name>`));
    });
  ws(rules.command('validate <prefix>')).action(async (prefix: string, o: Options, c: Command) => {
    const result = await clientFor(c).ecr<{ isValid: boolean; failure?: string; upstreamRegistryUrl: string }>('ValidatePullThroughCacheRule', { ecrRepositoryPrefix: prefix }, o.workspace);
    print(o.json, result, () => console.log(result.isValid ? `✓ ${result.upstreamRegistryUrl} answers` : `✗ ${result.upstreamRegistryUrl}: ${result.failure}`));
    if (!result.isValid) process.exitCode = 1;
  });
  ws(rules.command('delete <prefix>')).action(async (prefix: string, o: Options, c: Command) => {
    await clientFor(c).ecr('DeletePullThroughCacheRule', { ecrRepositoryPrefix: prefix }, o.workspace);
    console.log(`deleted the pull-through cache rule ${prefix}`);
  });

  registry
    .command('gc')
    .description('delete blobs no manifest references (blobs touched within the grace period are kept)')
    .option('--dry-run', 'only report what would be deleted')
    .option('--grace <seconds>', 'keep blobs written or linked this recently', integer)
    .option('--json', 'print JSON')
    .action(async (o: { dryRun?: boolean; grace?: number; json?: boolean }, c: Command) => {
      const report = await clientFor(c).call<{ deletedBlobs: number; freedBytes: number; orphanFiles: number; staleUploads: number }>('POST', '/api/registry/gc', {
        dryRun: o.dryRun ?? false,
        graceS: o.grace,
      });
      print(o.json, report, () =>
        console.log(`${o.dryRun ? 'would delete' : 'deleted'} ${report.deletedBlobs} blobs (${mib(report.freedBytes)}), ${report.orphanFiles} orphan files, ${report.staleUploads} stale uploads`),
      );
    });
  registry
    .command('visibility <repository> <visibility>')
    .description('make a repository public (anonymous pull) or private, e.g. admin/tools/x public')
    .action(async (repository: string, visibility: string, _o: unknown, c: Command) => {
      if (visibility !== 'public' && visibility !== 'private') throw new CliError('visibility must be public or private');
      await clientFor(c).call('PATCH', `/api/registry/repositories/${repository}`, { public: visibility === 'public' });
      console.log(`${repository} is ${visibility}`);
    });
}
