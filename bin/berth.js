#!/usr/bin/env node
// Runs the TypeScript sources directly: no build step between a fresh clone and `berth up`.
import { register } from 'tsx/esm/api';

register();
if (process.argv[2] === 'agent') {
  // The session agent knows nothing of the control plane: it loads only its own modules.
  const { runAgentCommand } = await import('../src/connect/agent/agent-main.ts');
  runAgentCommand(process.argv.slice(3));
} else {
  await import('../src/cli/main.ts');
}
