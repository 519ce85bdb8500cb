import type { ToolboxOperation } from '../toolbox-operation.ts';
import { cloneImage, cloneInput, type CloneResult } from './clone-image.ts';
import { migrateInput, migrateRepositories, type MigrateResult } from './migrate.ts';

export const cloneImageOperation: ToolboxOperation<typeof cloneInput, CloneResult> = {
  name: 'cloneImage',
  mcpTool: 'CloneContainerToECR',
  apiPath: 'clone',
  summary:
    'Copy an image (or every tag of a repository) between any two OCI registries — Berth, Amazon ECR, Docker Hub, ghcr.io, quay.io — keeping multi-platform indexes whole and digests unchanged, skipping blobs the target has and mounting those it holds in another repository',
  input: cloneInput,
  run: (input, context) => cloneImage(input, context),
};

export const migrateRepositoriesOperation: ToolboxOperation<typeof migrateInput, MigrateResult> = {
  name: 'migrateRepositories',
  apiPath: 'migrate',
  summary:
    'Move every tag of a set of repositories from one registry prefix to another (or list them with dryRun), and give the configuration lines that point tools at the new place',
  input: migrateInput,
  run: (input, context) => migrateRepositories(input, context),
};

export const cloneOperations: readonly ToolboxOperation[] = [cloneImageOperation, migrateRepositoriesOperation];
