import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  inspectStudioConfig,
  isImageReference,
  MAX_STUDIO_CONFIG_BYTES,
  parseStudioConfig,
  StudioConfigError,
  type StudioConfigProblem,
} from '../../../src/builder/studio-config/studio-config.ts';

/** Seqera's documented example (Enterprise 26.1), with the template kind filled in. */
const documentedExample = `schemaVersion: "0.0.1"
kind: "studio-config"
session:
  name: "studio-name"
  description: "desc"
  template:
    kind: "registry"
    registry: "cr.seqera.io/image:latest"
  clone:
    enabled: true
    path: "/workspace"
  dependencies:
    condaEnvironmentFile: "environment.yaml"
  computeRequirements:
    awsBatch:
      cpu: 2
      gpu: 0
      memory: 8192
  environmentVariables:
    - name: "var1"
      value: "value1"
    - name: "var2"
      value: "value2"
  management:
    lifespanHours: 1
    isPrivate: false
  ssh:
    enabled: true
`;

function problemsOf(text: string): StudioConfigProblem[] {
  try {
    parseStudioConfig(text);
  } catch (error) {
    if (error instanceof StudioConfigError) return error.problems;
    throw error;
  }
  assert.fail(`expected the config to be refused:\n${text}`);
}

describe('studio-config.yaml: valid files', () => {
  it('reads every field of the documented example', () => {
    assert.deepEqual(parseStudioConfig(documentedExample), {
      schemaVersion: '0.0.1',
      kind: 'studio-config',
      session: {
        name: 'studio-name',
        description: 'desc',
        template: { kind: 'registry', image: 'cr.seqera.io/image:latest' },
        clone: { enabled: true, path: '/workspace' },
        dependencies: { condaEnvironmentFile: 'environment.yaml' },
        computeRequirements: { awsBatch: { cpu: 2, gpu: 0, memoryMiB: 8192 } },
        environmentVariables: [
          { name: 'var1', value: 'value1' },
          { name: 'var2', value: 'value2' },
        ],
        management: { lifespanHours: 1, isPrivate: false },
        ssh: { enabled: true },
      },
    });
  });

  it('accepts the minimal registry file of Seqera\'s example repository (no schemaVersion, no kind) and fills in defaults', () => {
    const config = parseStudioConfig('session:\n    template:\n        kind: "registry"\n        registry: "public.cr.seqera.io/platform/data-studio-vscode:1.101.2-0.9"\n');
    assert.equal(config.schemaVersion, null);
    assert.deepEqual(config.session.template, { kind: 'registry', image: 'public.cr.seqera.io/platform/data-studio-vscode:1.101.2-0.9' });
    assert.deepEqual(config.session.clone, { enabled: true, path: '/workspace' });
    assert.deepEqual(config.session.computeRequirements, { awsBatch: { cpu: 2, gpu: 0, memoryMiB: 8192 } });
    assert.deepEqual(config.session.management, { lifespanHours: null, isPrivate: false });
    assert.deepEqual(config.session.ssh, { enabled: false });
    assert.deepEqual(config.session.environmentVariables, []);
    assert.equal(config.session.name, null);
  });

  it('reads a dockerfile template, cleaning its path inside .seqera/', () => {
    const config = parseStudioConfig('schemaVersion: "2025.04.1"\nkind: "studio-config"\nsession:\n  template:\n    kind: "dockerfile"\n    dockerfile: "./docker//Dockerfile"\n');
    assert.deepEqual(config.session.template, { kind: 'dockerfile', dockerfile: 'docker/Dockerfile' });
    assert.equal(config.schemaVersion, '2025.04.1');
  });

  it('reads a none template with a conda file, disabled cloning and variables (Seqera\'s example-cloning-disabled branch)', () => {
    const config = parseStudioConfig(
      'schemaVersion: "0.0.1"\nkind: "studio-config"\nsession:\n    template:\n        kind: "none"\n    clone:\n        enabled: false\n    dependencies:\n        condaEnvironmentFile: "environment.yaml"\n    environmentVariables:\n        -   name: "S3_1000_GENOMES_PUBLIC_BUCKET"\n            value: "s3://1000genomes"\n',
    );
    assert.deepEqual(config.session.template, { kind: 'none' });
    assert.equal(config.session.clone.enabled, false);
    assert.equal(config.session.dependencies.condaEnvironmentFile, 'environment.yaml');
    assert.deepEqual(config.session.environmentVariables, [{ name: 'S3_1000_GENOMES_PUBLIC_BUCKET', value: 's3://1000genomes' }]);
  });

  it('keeps unquoted numbers and booleans in variable values as written', () => {
    const config = parseStudioConfig(
      'session:\n  template: { kind: none }\n  environmentVariables:\n    - { name: VERSION, value: 1.10 }\n    - { name: DEBUG, value: true }\n    - { name: EMPTY, value: "" }\n',
    );
    assert.deepEqual(config.session.environmentVariables, [
      { name: 'VERSION', value: '1.10' },
      { name: 'DEBUG', value: 'true' },
      { name: 'EMPTY', value: '' },
    ]);
  });

  it('treats an empty section (`clone:` with nothing after it) as absent', () => {
    const config = parseStudioConfig('session:\n  template:\n    kind: none\n  clone:\n  management:\n');
    assert.deepEqual(config.session.clone, { enabled: true, path: '/workspace' });
  });

  it('follows YAML anchors and aliases', () => {
    const config = parseStudioConfig('session:\n  template:\n    kind: none\n  description: &text "shared"\n  name: *text\n');
    assert.equal(config.session.name, 'shared');
  });

  it('warns, without refusing, about fields the chosen kind ignores', () => {
    const { config, warnings } = inspectStudioConfig(
      'session:\n  template:\n    kind: dockerfile\n    dockerfile: Dockerfile\n    registry: cr.seqera.io/x:1\n  dependencies:\n    condaEnvironmentFile: env.yaml\n',
    );
    assert.equal(config.session.template.kind, 'dockerfile');
    assert.deepEqual(warnings, [
      { line: 5, message: 'session.template.registry is ignored because session.template.kind is dockerfile' },
      { line: 7, message: 'session.dependencies.condaEnvironmentFile is ignored because session.template.kind is dockerfile' },
    ]);
    assert.deepEqual(inspectStudioConfig(documentedExample).warnings, []);
  });
});

describe('studio-config.yaml: invalid files, each problem with its line', () => {
  const cases: Array<{ name: string; yaml: string; problems: Array<[number | null, RegExp]> }> = [
    { name: 'unclosed quote, named on its last line rather than past the end', yaml: 'session:\n  template:\n    kind: "registry\n', problems: [[3, /Missing closing "quote/]] },
    { name: 'mis-indented mapping', yaml: 'session:\n  template:\n    kind: none\n  clone:\n    - enabled\n    path: /x\n', problems: [[6, /same column|indent/i]] },
    { name: 'duplicate key', yaml: 'session:\n  template:\n    kind: none\n    kind: registry\n', problems: [[4, /unique|duplicate/i]] },
    { name: 'empty file', yaml: '# nothing here\n', problems: [[null, /empty/]] },
    { name: 'a list instead of a mapping', yaml: '- session\n', problems: [[1, /top level must be a mapping/]] },
    { name: 'wrong kind', yaml: 'kind: studio\nsession:\n  template:\n    kind: none\n', problems: [[1, /kind must be "studio-config"/]] },
    { name: 'schemaVersion not a version', yaml: 'schemaVersion: latest\nsession:\n  template:\n    kind: none\n', problems: [[1, /schemaVersion must be a version/]] },
    { name: 'schemaVersion as a number', yaml: 'schemaVersion: 1.0\nsession:\n  template:\n    kind: none\n', problems: [[1, /schemaVersion must be a string \(put it in quotes\)/]] },
    { name: 'unknown top-level key', yaml: 'session:\n  template:\n    kind: none\nsesion: {}\n', problems: [[4, /unknown key "sesion" in the top level.*did you mean "session"/]] },
    { name: 'missing session', yaml: 'schemaVersion: "0.0.1"\nkind: studio-config\n', problems: [[1, /session is required/]] },
    {
      name: 'session fields written at the top level',
      yaml: 'kind: studio-config\ntemplate:\n  kind: none\n',
      problems: [
        [1, /session is required/],
        [2, /unknown key "template" in the top level .*did you mean session\.template\?/],
      ],
    },
    { name: 'missing template', yaml: 'session:\n  name: x\n', problems: [[1, /session.template is required/]] },
    { name: 'missing template kind', yaml: 'session:\n  template:\n    registry: cr.seqera.io/x:1\n', problems: [[3, /session.template.kind is required/]] },
    { name: 'template kind not one of three', yaml: 'session:\n  template:\n    kind: docker\n', problems: [[3, /must be one of registry, dockerfile, none \(got "docker"\)/]] },
    { name: 'registry kind without an image', yaml: 'session:\n  template:\n    kind: registry\n', problems: [[3, /registry \(an image reference\) is required when kind is registry/]] },
    { name: 'registry image that is no reference', yaml: 'session:\n  template:\n    kind: registry\n    registry: "Cr.Seqera.io/Team/Image:latest"\n', problems: [[4, /not a valid image reference/]] },
    { name: 'dockerfile kind without a path', yaml: 'session:\n  template:\n    kind: dockerfile\n', problems: [[3, /dockerfile \(a path inside .seqera\/\) is required/]] },
    { name: 'dockerfile path climbing out of .seqera', yaml: 'session:\n  template:\n    kind: dockerfile\n    dockerfile: ../Dockerfile\n', problems: [[4, /must be a file path relative to .seqera\/ that stays inside it/]] },
    { name: 'dockerfile path that is absolute', yaml: 'session:\n  template:\n    kind: dockerfile\n    dockerfile: /etc/passwd\n', problems: [[4, /stays inside it/]] },
    { name: 'conda file climbing out', yaml: 'session:\n  template:\n    kind: none\n  dependencies:\n    condaEnvironmentFile: sub/../../../env.yaml\n', problems: [[5, /condaEnvironmentFile .* stays inside it/]] },
    { name: 'clone.enabled not a boolean', yaml: 'session:\n  template:\n    kind: none\n  clone:\n    enabled: yes\n', problems: [[5, /session.clone.enabled must be true or false \("yes" is text in YAML 1\.2\)/]] },
    { name: 'clone.path relative', yaml: 'session:\n  template:\n    kind: none\n  clone:\n    path: workspace/repo\n', problems: [[5, /clone.path must be an absolute path/]] },
    { name: 'cpu directly under computeRequirements', yaml: 'session:\n  template:\n    kind: none\n  computeRequirements:\n    cpu: 4\n', problems: [[5, /unknown key "cpu".*did you mean session.computeRequirements.awsBatch.cpu/]] },
    {
      name: 'resources that are not whole positive numbers',
      yaml: 'session:\n  template:\n    kind: none\n  computeRequirements:\n    awsBatch:\n      cpu: 0\n      gpu: -1\n      memory: 8GB\n',
      problems: [
        [6, /cpu must be at least 1 \(got 0\)/],
        [7, /gpu must be at least 0 \(got -1\)/],
        [8, /memory \(MiB\) must be a whole number/],
      ],
    },
    { name: 'variables as a mapping', yaml: 'session:\n  template:\n    kind: none\n  environmentVariables:\n    FOO: bar\n', problems: [[5, /must be a list of \{ name, value \} entries/]] },
    {
      name: 'bad, duplicate and incomplete variables',
      yaml: 'session:\n  template:\n    kind: none\n  environmentVariables:\n    - name: "1BAD"\n      value: x\n    - name: GOOD\n      value: a\n    - name: GOOD\n      value: b\n    - name: NOVALUE\n    - value: orphan\n    - name: OK\n      value: 1\n      extra: no\n',
      problems: [
        [5, /"1BAD" is not a valid environment variable name/],
        [9, /"GOOD" is defined twice \(first on line 7\)/],
        [11, /\[3\]\.value is required/],
        [12, /\[4\]\.name is required/],
        [15, /unknown key "extra" in session.environmentVariables\[5\]/],
      ],
    },
    { name: 'lifespan beyond 120 hours', yaml: 'session:\n  template:\n    kind: none\n  management:\n    lifespanHours: 500\n', problems: [[5, /lifespanHours must be between 1 and 120 \(got 500\)/]] },
    { name: 'isPrivate as a string, and a miscased key', yaml: 'session:\n  template:\n    kind: none\n  management:\n    isPrivate: "false"\n    lifeSpanHours: 2\n', problems: [[5, /isPrivate must be true or false/], [6, /unknown key "lifeSpanHours".*did you mean "lifespanHours"/]] },
    { name: 'ssh.enabled not a boolean', yaml: 'session:\n  template:\n    kind: none\n  ssh:\n    enabled: 1\n', problems: [[5, /session.ssh.enabled must be true or false/]] },
    { name: 'name that is not a string', yaml: 'session:\n  name: [a, b]\n  template:\n    kind: none\n', problems: [[2, /session.name must be a string$/]] },
    { name: 'two YAML documents', yaml: 'session:\n  template:\n    kind: none\n---\nsession: {}\n', problems: [[4, /multiple documents|single document/i]] },
  ];

  for (const { name, yaml, problems } of cases) {
    it(name, () => {
      const found = problemsOf(yaml);
      assert.equal(found.length, problems.length, `problems: ${JSON.stringify(found)}`);
      problems.forEach(([line, message], index) => {
        assert.equal(found[index]!.line, line, `line of ${JSON.stringify(found[index])}`);
        assert.match(found[index]!.message, message);
      });
    });
  }

  it('reports every problem of a file at once, in file order, in the error message too', () => {
    const yaml = 'kind: other\nsession:\n  template:\n    kind: registry\n    registry: "not a ref"\n  clone:\n    enabled: maybe\n  unknownThing: 1\n';
    assert.throws(
      () => parseStudioConfig(yaml),
      (error: unknown) => {
        assert.ok(error instanceof StudioConfigError);
        assert.deepEqual(
          error.problems.map((p) => p.line),
          [1, 5, 7, 8],
        );
        assert.match(error.message, /^\.seqera\/studio-config\.yaml is invalid:\n  line 1: kind must be/);
        assert.match(error.message, /line 8: unknown key "unknownThing" in session/);
        return true;
      },
    );
  });

  it('refuses a file over the size cap before parsing it', () => {
    const huge = `session:\n  template:\n    kind: none\n  description: "${'x'.repeat(MAX_STUDIO_CONFIG_BYTES)}"\n`;
    assert.deepEqual(problemsOf(huge), [{ line: null, message: `the file is larger than ${MAX_STUDIO_CONFIG_BYTES} bytes` }]);
  });
});

describe('image references in session.template.registry', () => {
  it('accepts what docker accepts', () => {
    for (const reference of [
      'ubuntu',
      'library/ubuntu:22.04',
      'cr.seqera.io/image:latest',
      'public.cr.seqera.io/platform/data-studio-vscode:1.101.2-0.9',
      'localhost:5000/team/tool',
      '127.0.0.1:5000/a/b:c',
      'ghcr.io/org/repo@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      'ghcr.io/org/repo:tag@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    ]) {
      assert.equal(isImageReference(reference), true, reference);
    }
  });

  it('refuses what docker refuses', () => {
    for (const reference of ['', 'UPPER/case', 'repo:', 'repo:bad tag', 'host:99x/repo', 'repo@sha256:abc', '/leading', 'a//b', 'trailing/', 'http://registry/x']) {
      assert.equal(isImageReference(reference), false, reference);
    }
  });
});
