/**
 * Amazon ECR lifecycle policies for Berth's registry: `parseLifecyclePolicy` checks a policy text
 * as ECR does (the language lives in `lifecycle-policy-parse.ts`), and `evaluateLifecycle` decides
 * which images it expires (`lifecycle-policy-evaluate.ts`). Both are pure: no storage, no clock.
 */
export {
  LIFECYCLE_POLICY_TEXT_MAX_CHARS,
  LIFECYCLE_POLICY_TEXT_MIN_CHARS,
  LifecyclePolicyError,
  MAX_WILDCARDS_PER_TAG_PATTERN,
  parseLifecyclePolicy,
} from './lifecycle-policy-parse.ts';
export type { CountType, LifecyclePolicy, LifecycleRule, LifecycleSelection, TagStatus } from './lifecycle-policy-parse.ts';
export { evaluateLifecycle } from './lifecycle-policy-evaluate.ts';
export type { ExpiringImage, LifecycleImage } from './lifecycle-policy-evaluate.ts';
