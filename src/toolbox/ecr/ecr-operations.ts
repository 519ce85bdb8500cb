import type { ToolboxOperation } from '../toolbox-operation.ts';
import { checkAvailabilityOperation } from './check-availability.ts';
import { createPullThroughCacheOperation } from './create-pull-through-cache.ts';
import { grantAccessOperation } from './grant-access.ts';
import { grantHealthOmicsAccessOperation } from './grant-healthomics.ts';
import { listPullThroughCacheRulesOperation } from './list-pull-through-cache-rules.ts';
import { validateEcrConfigurationOperation } from './validate-ecr.ts';

/** The ECR-side operations: availability checks, access grants, pull-through caches and their validation. */
export const ecrOperations: readonly ToolboxOperation[] = [
  checkAvailabilityOperation,
  grantAccessOperation,
  grantHealthOmicsAccessOperation,
  createPullThroughCacheOperation,
  listPullThroughCacheRulesOperation,
  validateEcrConfigurationOperation,
];
