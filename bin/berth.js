#!/usr/bin/env node
// Runs the TypeScript sources directly: no build step between a fresh clone and `berth up`.
import { register } from 'tsx/esm/api';

register();
if (process.argv[2] === 'agent') {
  // The session agent knows nothing of the control plane: it loads only its own modules.
  const { runAgentCommand } = await import('../src/connect/agent/agent-main.ts');
  runAgentCommand(process.argv.slice(3));
} else {
  // Berth pins the AWS SDK it ships with and supports Node 20 (package.json engines); the SDK's note that its
  // future releases will need Node 22 is for whoever upgrades Berth's dependencies, not for every CLI run.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  await import('../src/cli/main.ts');
}
