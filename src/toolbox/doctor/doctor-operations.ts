import { z } from 'zod';
import type { ToolboxOperation } from '../toolbox-operation.ts';
import { explainError, maxExplainChars, type ExplainResult } from './explain-error.ts';

const explainInput = z.object({
  text: z.string().min(1).max(maxExplainChars).describe('the error text as pasted: a log line, a stopped reason, kubectl events'),
});

/** `explainError` → POST /api/toolbox/doctor/explain (no MCP tool). The doctor itself needs the server: src/api/doctor-routes.ts. */
export const explainErrorOperation: ToolboxOperation<typeof explainInput, ExplainResult> = {
  name: 'explainError',
  apiPath: 'doctor/explain',
  summary: 'Explain a pasted error (Studios, Wave, ECR, HealthOmics, docker, Kubernetes): its cause and the fix',
  input: explainInput,
  run: async (input) => explainError(input.text),
};

export const doctorOperations: readonly ToolboxOperation[] = [explainErrorOperation];
