import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { ListImagesCommand, PutLifecyclePolicyCommand } from '@aws-sdk/client-ecr';
import { ecrSdk, type AwsKey } from '../support/aws.ts';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../support/containers.ts';
import { ociReference, writeOciLayout } from '../support/oci-image.ts';

describe('scheduled jobs', () => {
  let berth: TestBerth;
  let scratch: string;

  before(async () => {
    berth = await startBerth({ config: { registry: { lifecycleIntervalS: 1 } } });
    scratch = await scratchDir('schedule');
  });
  after(async () => {
    await berth?.close();
    await removeDir(scratch);
  });

  it('applies lifecycle policies on their schedule, without anyone asking', async () => {
    for (const tag of ['v1', 'v2', 'v3']) {
      const layout = await writeOciLayout({ dir: join(scratch, tag), layers: 1, layerBytes: 128 });
      await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), ociReference(layout), `docker://${berth.host}/admin/sched:${tag}`]);
    }
    const key = (await berth.api<AwsKey>('POST', '/api/access-keys', {})).body;
    const sdk = ecrSdk(berth.url, key);
    const keepOne = { rules: [{ rulePriority: 1, description: 'keep the newest', selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }] };
    await sdk.send(new PutLifecyclePolicyCommand({ repositoryName: 'sched', lifecyclePolicyText: JSON.stringify(keepOne) }));
    let tags: string[] = [];
    for (let attempt = 0; attempt < 100; attempt++) {
      tags = ((await sdk.send(new ListImagesCommand({ repositoryName: 'sched' }))).imageIds ?? []).map((id) => id.imageTag!);
      if (tags.length === 1) break;
      await sleep(100);
    }
    assert.deepEqual(tags, ['v3']);
  });
});
