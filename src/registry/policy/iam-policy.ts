/**
 * Amazon-ECR-style IAM policies: repository policies (SetRepositoryPolicy) and registry policies
 * (PutRegistryPolicy). Pure functions, no I/O:
 *
 * - `parsePolicy(text, kind)` validates policy text the way ECR does and throws `PolicyError` with a
 *   message that names the problem and its place (`Statement[1].Effect must be "Allow" or "Deny", …`).
 * - `evaluatePolicy(policy, request)` answers `allow`, `deny` (an explicit Deny, which wins) or `none`
 *   (the policy says nothing; the caller's other rules decide).
 *
 * Parsing lives in iam-policy-parse.ts, evaluation and the condition operators in
 * iam-policy-evaluate.ts; import from here.
 */
export {
  PolicyError,
  maxPolicyLength,
  parsePolicy,
  type Condition,
  type PolicyDocument,
  type PolicyKind,
  type PolicyStatement,
  type PrincipalSet,
} from './iam-policy-parse.ts';
export { evaluatePolicy, type ConditionTest, type PolicyCaller, type PolicyDecision, type PolicyRequest } from './iam-policy-evaluate.ts';
