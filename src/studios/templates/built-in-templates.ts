import type { TemplateSettings } from '../../config/schema.ts';

/** The session agent version Berth's published template images carry (the part after `-` of their tags). */
const agentVersion = '0.1.0';

/** A built-in template: every field set, so that configuration only ever changes what it names. */
export interface BuiltInTemplate extends Required<Omit<TemplateSettings, 'status'>> {
  key: string;
  /** What people call the tool. */
  name: string;
}

/**
 * The four tools Berth knows out of the box. Repositories name Berth's own template images; a
 * deployment points them elsewhere with `studios.templates.<key>.repository` or
 * BERTH_STUDIO_TEMPLATES_<KEY>_REPOSITORY. Versions are image tags, oldest first.
 *
 * `hostCommand` is what the local runner starts on the Berth host, `{port}` and `{prefix}` filled in:
 * each tool is told to listen on loopback at that port, without its own login (the proxy authenticates),
 * and, where it supports one, to serve under the session's path prefix.
 */
export const builtInTemplates: readonly BuiltInTemplate[] = [
  {
    key: 'jupyter',
    name: 'Jupyter',
    repository: 'cr.berth.dev/studios/jupyter',
    tool: 'jupyter',
    port: 8888,
    icon: 'jupyter',
    versions: [`6.4.12-${agentVersion}`, `6.5.7-${agentVersion}`],
    hostCommand: [
      'jupyter',
      'notebook',
      '--no-browser',
      '--ip=127.0.0.1',
      '--port={port}',
      '--NotebookApp.token=',
      '--NotebookApp.password=',
      '--NotebookApp.allow_remote_access=True',
      '--NotebookApp.base_url={prefix}',
      // Berth may run as root (in a container, in CI); the session is then root's anyway
      '--allow-root',
    ],
  },
  {
    key: 'vscode',
    name: 'VS Code',
    repository: 'cr.berth.dev/studios/vscode',
    tool: 'vscode',
    port: 8080,
    icon: 'vscode',
    versions: [`4.89.1-${agentVersion}`, `4.96.4-${agentVersion}`],
    // code-server serves with relative URLs, so it works under a path prefix without being told it.
    hostCommand: ['code-server', '--bind-addr=127.0.0.1:{port}', '--auth=none', '--disable-telemetry', '--disable-update-check', '.'],
  },
  {
    key: 'rstudio',
    name: 'RStudio',
    repository: 'cr.berth.dev/studios/rstudio',
    tool: 'rstudio',
    port: 8787,
    icon: 'rstudio',
    versions: [`2023.12.1-${agentVersion}`, `2024.04.2-${agentVersion}`],
    hostCommand: ['rserver', '--server-daemonize=0', '--www-address=127.0.0.1', '--www-port={port}', '--www-root-path={prefix}', '--auth-none=1'],
  },
  {
    key: 'xpra',
    name: 'Xpra',
    repository: 'cr.berth.dev/studios/xpra',
    tool: 'xpra',
    port: 14500,
    icon: 'xpra',
    versions: [`5.0.9-${agentVersion}`, `6.1.3-${agentVersion}`],
    hostCommand: ['xpra', 'start', '--daemon=no', '--bind-tcp=127.0.0.1:{port}', '--html=on', '--exit-with-children=yes', '--start-child=xterm'],
  },
];
