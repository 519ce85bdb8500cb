import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/load.ts';
import { builtInTemplates } from '../../../src/studios/templates/built-in-templates.ts';
import { compareVersions, splitReference, TemplateCatalog } from '../../../src/studios/templates/templates.ts';

const workspace = { id: 'w1', slug: 'admin' };
const builtInTools = ['jupyter', 'vscode', 'rstudio', 'xpra'];

/** The catalog a server would build from these BERTH_* variables (and the templates file they may name). */
async function catalogFromEnvironment(env: Record<string, string>): Promise<TemplateCatalog> {
  const config = await loadConfig({ env, file: emptyConfig });
  return TemplateCatalog.load(config.studios);
}

let dir: string;
let emptyConfig: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-templates-'));
  emptyConfig = join(dir, 'berth.yaml');
  await writeFile(emptyConfig, '');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function templatesFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('built-in templates', () => {
  it('lists one entry per version of jupyter, vscode, rstudio and xpra, with their own tool names', () => {
    const entries = new TemplateCatalog([]).listFor(workspace);
    const expected = builtInTemplates.reduce((sum, template) => sum + template.versions.length, 0);
    assert.equal(entries.length, expected);
    assert.deepEqual([...new Set(entries.map((entry) => entry.tool))], builtInTools);
    for (const entry of entries) {
      assert.notEqual(entry.tool, 'custom');
      assert.match(entry.repository, /^cr\.berth\.dev\/studios\/[a-z]+:[0-9.]+-[0-9.]+$/);
      assert.ok(entry.icon);
    }
  });

  it('recommends the newest version of each and deprecates the older ones', () => {
    const catalog = new TemplateCatalog([]);
    for (const template of catalog.all()) {
      const [newest, ...older] = template.versions;
      assert.equal(newest!.status, 'recommended', template.key);
      for (const version of older) assert.equal(version.status, 'deprecated', `${template.key} ${version.version}`);
      assert.ok(older.length > 0, `${template.key} has older versions`);
    }
  });

  it("gives jupyter the host command of the local runner, with its port and prefix placeholders", () => {
    const jupyter = new TemplateCatalog([]).get('jupyter')!;
    assert.deepEqual(jupyter.hostCommand, [
      'jupyter',
      'notebook',
      '--no-browser',
      '--ip=127.0.0.1',
      '--port={port}',
      '--NotebookApp.token=',
      '--NotebookApp.password=',
      '--NotebookApp.allow_remote_access=True',
      '--NotebookApp.base_url={prefix}',
      '--allow-root',
    ]);
    for (const template of new TemplateCatalog([]).all()) assert.ok(template.hostCommand!.some((arg) => arg.includes('{port}')), template.key);
  });
});

describe('version order and statuses', () => {
  it('compares tool versions part by part as numbers, then agent versions', () => {
    assert.ok(compareVersions('4.10.0-0.1.0', '4.9.3-0.1.0') > 0);
    assert.ok(compareVersions('4.9-0.2.0', '4.9-0.10.0') < 0);
    assert.ok(compareVersions('2024.04.2-0.1.0', '2023.12.1-0.9.0') > 0);
    assert.equal(compareVersions('1.0-1', '1.0-1'), 0);
    assert.ok(compareVersions('1.0.1-1', '1.0-1') > 0);
  });

  it('recommends the highest version, whatever order the versions are given in', () => {
    const catalog = new TemplateCatalog([{ source: 'test', templates: { jupyter: { versions: ['4.9.1-0.2', '4.10.0-0.1', '4.2.0-0.3'] } } }]);
    const listed = catalog.listFor(workspace).filter((entry) => entry.tool === 'jupyter');
    assert.deepEqual(listed.map((entry) => [entry.repository, entry.status]), [
      ['cr.berth.dev/studios/jupyter:4.10.0-0.1', 'recommended'],
      ['cr.berth.dev/studios/jupyter:4.9.1-0.2', 'deprecated'],
      ['cr.berth.dev/studios/jupyter:4.2.0-0.3', 'deprecated'],
    ]);
  });

  it('gives every version a configured status', async () => {
    const catalog = await catalogFromEnvironment({ BERTH_STUDIO_TEMPLATES_XPRA_STATUS: 'experimental' });
    const xpra = catalog.listFor(workspace).filter((entry) => entry.tool === 'xpra');
    assert.ok(xpra.length > 1);
    for (const entry of xpra) assert.equal(entry.status, 'experimental');
    assert.equal(catalog.listFor(workspace).find((entry) => entry.tool === 'jupyter')!.status, 'recommended');
  });
});

describe('configuration: built-ins ← templates file ← studios.templates (environment)', () => {
  it('applies the file over the built-ins and the environment over the file, field by field', async () => {
    const file = await templatesFile(
      'merge.yaml',
      ['jupyter:', '  repository: files.example.org/jupyter', '  port: 9999', '  icon: https://example.org/jupyter.svg', '  versions: ["7.0.0-0.1.0"]', 'vscode:', '  icon: code'].join('\n'),
    );
    const catalog = await catalogFromEnvironment({
      BERTH_STUDIOS_TEMPLATES_FILE: file,
      BERTH_STUDIO_TEMPLATES_JUPYTER_REPOSITORY: 'env.example.org/jupyter',
      BERTH_STUDIO_TEMPLATES_VSCODE_PORT: '3000',
    });
    const jupyter = catalog.get('jupyter')!;
    assert.equal(jupyter.repository, 'env.example.org/jupyter', 'the environment wins over the file');
    assert.equal(jupyter.port, 9999, 'the file wins over the built-in');
    assert.equal(jupyter.icon, 'https://example.org/jupyter.svg');
    assert.equal(jupyter.tool, 'jupyter', 'fields no one sets keep the built-in value');
    assert.deepEqual(jupyter.versions.map((v) => v.image), ['env.example.org/jupyter:7.0.0-0.1.0']);
    const vscode = catalog.get('vscode')!;
    assert.equal(vscode.icon, 'code');
    assert.equal(vscode.port, 3000);
    assert.equal(vscode.repository, 'cr.berth.dev/studios/vscode');
  });

  it('reads JSON files as well', async () => {
    const file = await templatesFile('templates.json', JSON.stringify({ rstudio: { repository: 'json.example.org/rstudio', versions: ['2024.12.0-0.1.0'] } }));
    const catalog = await TemplateCatalog.load({ templates: {}, templatesFile: file });
    assert.deepEqual(catalog.listFor(workspace).filter((e) => e.tool === 'rstudio'), [
      { repository: 'json.example.org/rstudio:2024.12.0-0.1.0', icon: 'rstudio', status: 'recommended', tool: 'rstudio' },
    ]);
  });

  it('pins a template to one image when its repository is given with a tag', async () => {
    const catalog = await catalogFromEnvironment({ BERTH_STUDIO_TEMPLATES_JUPYTER_REPOSITORY: 'mirror.example.org:5000/jupyter:6.4.12-0.1.0' });
    assert.deepEqual(catalog.listFor(workspace).filter((e) => e.tool === 'jupyter'), [
      { repository: 'mirror.example.org:5000/jupyter:6.4.12-0.1.0', icon: 'jupyter', status: 'recommended', tool: 'jupyter' },
    ]);
    assert.equal(catalog.get('jupyter')!.repository, 'mirror.example.org:5000/jupyter');
  });
});

describe('custom templates', () => {
  it('makes a template of a new key, tool "custom" unless it names one', async () => {
    const catalog = await catalogFromEnvironment({
      BERTH_STUDIO_TEMPLATES_MY_TOOL_REPOSITORY: 'registry.example.org/team/my-tool:1.2-0.1.0',
      BERTH_STUDIO_TEMPLATES_STREAMLIT_REPOSITORY: 'registry.example.org/streamlit',
      BERTH_STUDIO_TEMPLATES_STREAMLIT_TOOL: 'streamlit',
      BERTH_STUDIO_TEMPLATES_STREAMLIT_PORT: '8501',
    });
    const entries = catalog.listFor(workspace);
    assert.deepEqual(entries.slice(-2), [
      { repository: 'registry.example.org/team/my-tool:1.2-0.1.0', icon: 'custom', status: 'recommended', tool: 'custom' },
      { repository: 'registry.example.org/streamlit:latest', icon: 'custom', status: 'recommended', tool: 'streamlit' },
    ]);
    const myTool = catalog.get('my-tool')!;
    assert.equal(myTool.builtIn, false);
    assert.equal(myTool.hostCommand, null);
    assert.equal(catalog.get('streamlit')!.port, 8501);
    assert.deepEqual(entries.slice(0, -2).map((e) => e.tool).filter((tool, i, all) => all.indexOf(tool) === i), builtInTools, 'the built-ins come first, unchanged');
  });

  it('refuses a new template without a repository, naming the variable to set', async () => {
    await assert.rejects(
      () => catalogFromEnvironment({ BERTH_STUDIO_TEMPLATES_MY_TOOL_ICON: 'tool' }),
      (error: Error) => error instanceof ConfigError && /template my-tool: a new template needs a repository/.test(error.message) && error.message.includes('BERTH_STUDIO_TEMPLATES_MY_TOOL_REPOSITORY'),
    );
  });

  it('refuses "custom" as the tool of a built-in template', async () => {
    await assert.rejects(
      () => catalogFromEnvironment({ BERTH_STUDIO_TEMPLATES_JUPYTER_TOOL: 'custom' }),
      (error: Error) => error instanceof ConfigError && /template jupyter: the built-in template's tool cannot be "custom"/.test(error.message),
    );
  });
});

describe('bad templates files and variables', () => {
  const rejectsFile = async (name: string, text: string, pattern: RegExp) => {
    const file = await templatesFile(name, text);
    await assert.rejects(
      () => TemplateCatalog.load({ templates: {}, templatesFile: file }),
      (error: Error) => error instanceof ConfigError && error.message.includes(file) && pattern.test(error.message),
    );
  };

  it('names the file and the field of a bad value', async () => {
    await rejectsFile('bad-port.yaml', 'jupyter:\n  port: 70000\n', /: jupyter\.port: /);
    await rejectsFile('bad-status.yaml', 'vscode:\n  status: shiny\n', /: vscode\.status: /);
    await rejectsFile('bad-version.yaml', 'xpra:\n  versions: ["6.1"]\n', /: xpra\.versions\.0: must be <tool_version>-<agent_version>/);
    await rejectsFile('bad-key.yaml', 'My_Tool:\n  repository: x/y\n', /My_Tool: template keys are lower-case/);
  });

  it('names an unknown field', async () => {
    await rejectsFile('typo.yaml', 'jupyter:\n  prot: 8888\n', /: jupyter\.prot: unknown field/);
  });

  it('names the line of a YAML syntax error, and refuses a file that is not a mapping', async () => {
    await rejectsFile('syntax.yaml', 'jupyter:\n  port: [1,\n', /line \d+/);
    await rejectsFile('list.yaml', '- jupyter\n', /top level must be a mapping/);
  });

  it('says when the file cannot be read', async () => {
    const missing = join(dir, 'missing.yaml');
    await assert.rejects(() => TemplateCatalog.load({ templates: {}, templatesFile: missing }), (error: Error) => error instanceof ConfigError && error.message.includes(`cannot read templates file ${missing}`));
  });

  it('refuses bad BERTH_STUDIO_TEMPLATES_* values when the configuration is loaded, naming the setting', async () => {
    await assert.rejects(
      () => catalogFromEnvironment({ BERTH_STUDIO_TEMPLATES_JUPYTER_STATUS: 'shiny' }),
      (error: Error) => error instanceof ConfigError && error.message.includes('studios.templates.jupyter.status'),
    );
    await assert.rejects(
      () => catalogFromEnvironment({ BERTH_STUDIO_TEMPLATES_VSCODE_PORT: 'eighty' }),
      (error: Error) => error instanceof ConfigError && error.message.includes('studios.templates.vscode.port'),
    );
  });
});

describe('resolve', () => {
  const catalog = new TemplateCatalog([{ source: 'test', templates: { jupyter: { versions: ['6.4.12-0.1.0', '6.5.7-0.1.0'] } } }]);

  it('maps a key to its template and newest image', () => {
    const resolved = catalog.resolve('jupyter');
    assert.equal(resolved.template.key, 'jupyter');
    assert.equal(resolved.image, 'cr.berth.dev/studios/jupyter:6.5.7-0.1.0');
    assert.deepEqual(resolved.view, { repository: 'cr.berth.dev/studios/jupyter:6.5.7-0.1.0', icon: 'jupyter', status: 'recommended', tool: 'jupyter' });
    assert.ok(resolved.template.hostCommand);
  });

  it('maps a template image (dataStudioToolUrl) back to its template and version status', () => {
    const resolved = catalog.resolve('cr.berth.dev/studios/jupyter:6.4.12-0.1.0');
    assert.equal(resolved.template.key, 'jupyter');
    assert.equal(resolved.view.status, 'deprecated');
    assert.equal(resolved.template.port, 8888);
    const unlisted = catalog.resolve('cr.berth.dev/studios/jupyter@sha256:' + 'a'.repeat(64));
    assert.equal(unlisted.template.key, 'jupyter');
    assert.equal(unlisted.view.status, 'unsupported');
  });

  it('makes any other image a custom template with no host command', () => {
    const resolved = catalog.resolve('127.0.0.1:5000/me/tool:1.0');
    assert.equal(resolved.template.tool, 'custom');
    assert.equal(resolved.template.hostCommand, null);
    assert.equal(resolved.template.repository, '127.0.0.1:5000/me/tool');
    assert.equal(resolved.image, '127.0.0.1:5000/me/tool:1.0');
    assert.equal(catalog.find('127.0.0.1:5000/me/tool:1.0'), undefined);
  });

  it('splits image references without taking a registry port for a tag', () => {
    assert.deepEqual(splitReference('host:5000/a/b'), { repository: 'host:5000/a/b', tag: null, digest: null });
    assert.deepEqual(splitReference('host:5000/a/b:1.0@sha256:ab'), { repository: 'host:5000/a/b', tag: '1.0', digest: 'sha256:ab' });
  });
});
