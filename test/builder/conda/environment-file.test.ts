import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import {
  appendChannels,
  defaultMaxCondaFileBytes,
  EnvironmentFileError,
  environmentFromEntries,
  parseEnvironmentFile,
  renderEnvironmentFile,
  type CondaEnvironment,
  type EnvironmentProblem,
} from '../../../src/builder/conda/environment-file.ts';

/** The problems an invalid input produces; fails the test when the input is accepted. */
function problemsOf(action: () => unknown): EnvironmentProblem[] {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof EnvironmentFileError, `expected EnvironmentFileError, got ${String(error)}`);
    return error.problems;
  }
  assert.fail('the input was accepted');
}

function fileProblems(text: string): EnvironmentProblem[] {
  return problemsOf(() => parseEnvironmentFile(text));
}

const empty = { channels: [], dependencies: [], pip: [], variables: {} };

describe('parseEnvironmentFile: valid files', () => {
  it('reads a minimal file with only dependencies', () => {
    assert.deepEqual(parseEnvironmentFile('dependencies:\n  - numpy\n'), { ...empty, dependencies: ['numpy'] });
  });

  it('reads every key Wave and conda accept, with a pip mapping and variables', () => {
    const text = [
      '# an RNA-seq studio',
      'name: rnaseq',
      'channels:',
      '  - conda-forge',
      '  - bioconda',
      'dependencies:',
      '  - python=3.11',
      "  - 'numpy>=1.2,<2'",
      '  - bioconda::samtools=1.19   # pinned for the paper',
      '  - pip',
      '  - pip:',
      '    - requests==2.31.0',
      '    - "scanpy[leiden]>=1.10"',
      'prefix: /home/me/miniconda3/envs/rnaseq',
      'variables:',
      '  OMP_NUM_THREADS: 1',
      '  DATA_DIR: /data',
      '',
    ].join('\n');
    assert.deepEqual(parseEnvironmentFile(text), {
      name: 'rnaseq',
      channels: ['conda-forge', 'bioconda'],
      dependencies: ['python=3.11', 'numpy>=1.2,<2', 'bioconda::samtools=1.19', 'pip'],
      pip: ['requests==2.31.0', 'scanpy[leiden]>=1.10'],
      variables: { DATA_DIR: '/data', OMP_NUM_THREADS: '1' },
    });
  });

  it('reads flow-style collections and CRLF line endings', () => {
    const text = '{channels: [conda-forge], dependencies: [numpy=1.26, "python>=3.11", {pip: [rich]}]}\r\n';
    assert.deepEqual(parseEnvironmentFile(text), {
      ...empty,
      channels: ['conda-forge'],
      dependencies: ['numpy=1.26', 'python>=3.11'],
      pip: ['rich'],
    });
    assert.deepEqual(parseEnvironmentFile('dependencies:\r\n  - numpy\r\n  - scipy\r\n'), { ...empty, dependencies: ['numpy', 'scipy'] });
  });

  it('keeps numbers and booleans in variables as written and sorts the names', () => {
    const environment = parseEnvironmentFile('dependencies: [numpy]\nvariables:\n  Z_LAST: true\n  VERSION: 1.10\n  A_FIRST: "x"\n');
    assert.deepEqual(environment.variables, { A_FIRST: 'x', VERSION: '1.10', Z_LAST: 'true' });
    assert.deepEqual(Object.keys(environment.variables), ['A_FIRST', 'VERSION', 'Z_LAST']);
  });

  it('trims specs, drops repeated channels and accepts an empty dependency list', () => {
    assert.deepEqual(parseEnvironmentFile('channels: [conda-forge, bioconda, conda-forge]\ndependencies: ["  numpy  "]\n'), {
      ...empty,
      channels: ['conda-forge', 'bioconda'],
      dependencies: ['numpy'],
    });
    assert.deepEqual(parseEnvironmentFile('dependencies: []\n'), empty);
  });
});

describe('parseEnvironmentFile: problems with their lines', () => {
  it('names a malformed match spec with its line and index', () => {
    const text = 'name: demo\ndependencies:\n  - python=3.11\n  - numpy>=1.2,<\n';
    assert.deepEqual(fileProblems(text), [
      { line: 4, message: 'dependencies[1] "numpy>=1.2,<" is not a valid conda match spec: the operator "<" has no version after it' },
    ]);
    assert.throws(() => parseEnvironmentFile(text), {
      message: 'line 4: dependencies[1] "numpy>=1.2,<" is not a valid conda match spec: the operator "<" has no version after it',
    });
  });

  it('reports bad YAML at the line where it breaks', () => {
    assert.deepEqual(fileProblems('name: demo\ndependencies:\n  - numpy\n  - [scipy\n'), [
      { line: 5, message: 'invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]' },
    ]);
    const tabs = fileProblems('dependencies:\n\t- numpy\n');
    assert.equal(tabs[0]?.line, 2);
    assert.match(tabs[0]?.message ?? '', /^invalid YAML: /);
  });

  it('reports unknown and repeated keys', () => {
    assert.deepEqual(fileProblems('name: demo\nchanels: [conda-forge]\ndependencies: [numpy]\n'), [
      { line: 2, message: 'unknown key "chanels" (allowed: name, channels, dependencies, prefix, variables)' },
    ]);
    assert.deepEqual(fileProblems('name: a\nname: b\ndependencies: [numpy]\n'), [{ line: 2, message: 'invalid YAML: Map keys must be unique' }]);
  });

  it('reports each wrong type where it stands', () => {
    const text = ['name: 42', 'channels: conda-forge', 'dependencies:', '  numpy: 1.26', 'prefix: [a]', 'variables: [A=1]', ''].join('\n');
    assert.deepEqual(fileProblems(text), [
      { line: 1, message: 'name must be a string, not the number 42' },
      { line: 2, message: 'channels must be a list of channel names or URLs, not "conda-forge"' },
      { line: 4, message: 'dependencies must be a list of conda match specs, not a mapping' },
      { line: 5, message: 'prefix must be a string, not a list' },
      { line: 6, message: 'variables must be a mapping of NAME: value, not a list' },
    ]);
  });

  it('places a problem on an empty value at its key', () => {
    assert.deepEqual(fileProblems('channels:\ndependencies:\n'), [
      { line: 1, message: 'channels must be a list of channel names or URLs, not empty' },
      { line: 2, message: 'dependencies must be a list of conda match specs, not empty' },
    ]);
  });

  it('reports non-string dependencies, bad channels and a bad environment name', () => {
    const text = ['name: my env', 'channels:', '  - conda-forge', '  - ./local', 'dependencies:', '  - 3', '  -', '  - [numpy]', ''].join('\n');
    assert.deepEqual(fileProblems(text), [
      { line: 1, message: 'name "my env" is not a valid environment name: use letters, digits, "_", "." and "-" (at most 128)' },
      {
        line: 4,
        message: 'channels[1] "./local" is not a valid conda channel: local path channels do not exist inside the build; use a channel name or URL',
      },
      { line: 6, message: 'dependencies[0] must be a conda match spec string or a "pip:" mapping, not the number 3' },
      { line: 7, message: 'dependencies[1] must be a conda match spec string or a "pip:" mapping, not empty' },
      { line: 8, message: 'dependencies[2] must be a conda match spec string or a "pip:" mapping, not a list' },
    ]);
  });

  it('allows exactly one pip mapping, holding a list of requirement strings', () => {
    const text = [
      'dependencies:',
      '  - pip',
      '  - pip: requests',
      '  - pip:',
      '    - 42',
      '    - ""',
      '  - sel(linux): gcc',
      '  - pip: [rich]',
      '',
    ].join('\n');
    assert.deepEqual(fileProblems(text), [
      { line: 3, message: 'dependencies[1].pip must be a list of pip requirements, not "requests"' },
      { line: 4, message: 'dependencies[2]: only one "pip:" mapping is allowed' },
      {
        line: 7,
        message: 'dependencies[3]: the only mapping allowed in dependencies is "pip:" with a list of requirements (found "sel(linux)")',
      },
      { line: 8, message: 'dependencies[4]: only one "pip:" mapping is allowed' },
    ]);
    assert.deepEqual(fileProblems('dependencies:\n  - pip:\n    - 42\n    - ""\n'), [
      { line: 3, message: 'dependencies[0].pip[0] must be a string, not the number 42' },
      { line: 4, message: 'dependencies[0].pip[1] "" is not a valid pip requirement: it is empty' },
    ]);
  });

  it('reports bad variable names and values', () => {
    const text = 'dependencies: [numpy]\nvariables:\n  1BAD: x\n  EMPTY:\n  LIST: [a]\n  MULTI: "a\\nb"\n';
    assert.deepEqual(fileProblems(text), [
      { line: 3, message: 'variables: "1BAD" is not a valid environment variable name' },
      { line: 4, message: 'variables.EMPTY must be a string, number or boolean, not empty' },
      { line: 5, message: 'variables.LIST must be a string, number or boolean, not a list' },
      { line: 6, message: 'variables.MULTI must be a single line without control characters' },
    ]);
  });

  it('refuses YAML aliases, several documents and files that are not a mapping', () => {
    assert.deepEqual(fileProblems('channels: &c [conda-forge]\ndependencies: *c\n'), [
      { line: 2, message: 'dependencies: YAML aliases (*name) are not supported' },
    ]);
    assert.deepEqual(fileProblems('dependencies: [numpy]\n---\ndependencies: [scipy]\n'), [
      { line: 2, message: 'invalid YAML: Source contains multiple documents; please use YAML.parseAllDocuments()' },
    ]);
    assert.deepEqual(fileProblems('- numpy\n- scipy\n'), [
      { line: 1, message: 'the top level must be a mapping of name, channels, dependencies, prefix, variables, not a list' },
    ]);
    assert.deepEqual(fileProblems('numpy\n'), [
      { line: 1, message: 'the top level must be a mapping of name, channels, dependencies, prefix, variables, not "numpy"' },
    ]);
    assert.deepEqual(fileProblems(''), [{ line: null, message: 'the file is empty; expected a mapping with channels and dependencies' }]);
    assert.deepEqual(fileProblems('# only a comment\n'), [{ line: null, message: 'the file is empty; expected a mapping with channels and dependencies' }]);
  });

  it('requires dependencies', () => {
    assert.deepEqual(fileProblems('name: demo\nchannels: [conda-forge]\n'), [{ line: 1, message: 'missing key "dependencies"' }]);
  });

  it('reports several problems together, in line order', () => {
    const text = [
      'name: demo',
      'channels:',
      '  - conda-forge',
      '  - conda forge',
      'dependencies:',
      '  - python=3.11',
      '  - numpy>=1.2,<',
      '  - conda-forge:scipy',
      '  - pip:',
      '      - rich',
      'extras: true',
      'variables:',
      '  9LIVES: cat',
      '',
    ].join('\n');
    const error = captureError(() => parseEnvironmentFile(text));
    assert.ok(error instanceof EnvironmentFileError);
    assert.deepEqual(
      error.problems.map((problem) => problem.line),
      [4, 7, 8, 11, 13],
    );
    assert.equal(
      error.message,
      [
        'line 4: channels[1] "conda forge" is not a valid conda channel: "conda forge" may only contain letters, digits, "_", "." and "-", and must not start with "." or "-"',
        'line 7: dependencies[1] "numpy>=1.2,<" is not a valid conda match spec: the operator "<" has no version after it',
        'line 8: dependencies[2] "conda-forge:scipy" is not a valid conda match spec: use "::" between the channel and the package name (conda reads a single ":" as a namespace and ignores the channel)',
        'line 11: unknown key "extras" (allowed: name, channels, dependencies, prefix, variables)',
        'line 13: variables: "9LIVES" is not a valid environment variable name',
      ].join('\n'),
    );
  });
});

describe('parseEnvironmentFile: size limit', () => {
  /** A valid file of exactly `bytes` bytes (padded with a comment). */
  function fileOfSize(bytes: number): string {
    const head = 'dependencies: [numpy]\n#';
    const text = head + 'x'.repeat(bytes - head.length);
    assert.equal(Buffer.byteLength(text), bytes, 'test file size');
    return text;
  }

  it(`accepts ${defaultMaxCondaFileBytes} bytes and refuses one more, in Wave's words`, () => {
    assert.deepEqual(parseEnvironmentFile(fileOfSize(defaultMaxCondaFileBytes)).dependencies, ['numpy']);
    assert.deepEqual(fileProblems(fileOfSize(defaultMaxCondaFileBytes + 1)), [
      { line: null, message: 'Conda file size exceeds the maximum allowed size of 50000 bytes' },
    ]);
  });

  it('counts UTF-8 bytes, not characters', () => {
    const text = `dependencies: [numpy]\n# ${'é'.repeat(600)}`;
    assert.ok(text.length < 1000 && Buffer.byteLength(text) > 1000);
    assert.deepEqual(problemsOf(() => parseEnvironmentFile(text, { maxBytes: 1000 })), [
      { line: null, message: 'Conda file size exceeds the maximum allowed size of 1000 bytes' },
    ]);
  });

  it('takes a configured limit', () => {
    const text = fileOfSize(200);
    assert.deepEqual(parseEnvironmentFile(text, { maxBytes: 200 }).dependencies, ['numpy']);
    assert.deepEqual(problemsOf(() => parseEnvironmentFile(text, { maxBytes: 199 })), [
      { line: null, message: 'Conda file size exceeds the maximum allowed size of 199 bytes' },
    ]);
  });
});

describe('environmentFromEntries (Wave packages.entries)', () => {
  it('builds the same normalized form, pip entries under pip with pip itself added', () => {
    assert.deepEqual(environmentFromEntries(['bioconda::samtools=1.19', 'numpy>=1.2,<2', 'pip:requests==2.31.0'], ['conda-forge', 'bioconda']), {
      channels: ['conda-forge', 'bioconda'],
      dependencies: ['bioconda::samtools=1.19', 'numpy>=1.2,<2', 'pip'],
      pip: ['requests==2.31.0'],
      variables: {},
    });
  });

  it('does not add pip twice and needs no channels', () => {
    assert.deepEqual(environmentFromEntries(['pip=24', 'pip:rich']), { ...empty, dependencies: ['pip=24'], pip: ['rich'] });
    assert.deepEqual(environmentFromEntries(['numpy']), { ...empty, dependencies: ['numpy'] });
  });

  it('validates every entry and channel and reports them all', () => {
    assert.deepEqual(
      problemsOf(() => environmentFromEntries(['numpy', 'pip::rich', 'https://example.org/env.lock', 'scipy>=', 'pip:'], ['conda-forge', 'bad channel'])),
      [
        {
          line: null,
          message: 'channels[1] "bad channel" is not a valid conda channel: "bad channel" may only contain letters, digits, "_", "." and "-", and must not start with "." or "-"',
        },
        { line: null, message: "entries[1] Invalid pip prefix - Likely you want to use 'pip:rich' instead of 'pip::rich'" },
        { line: null, message: 'entries[2] "https://example.org/env.lock" is a URL; conda lock file URLs are not supported, list packages instead' },
        { line: null, message: 'entries[3] "scipy>=" is not a valid conda match spec: the operator ">=" has no version after it' },
        { line: null, message: 'entries[4] "pip:" is not a valid pip requirement: it is empty' },
      ],
    );
  });

  it('reports values that are not strings (a JSON request can carry anything)', () => {
    const entries = ['numpy', 7, null] as unknown as string[];
    assert.deepEqual(problemsOf(() => environmentFromEntries(entries, [false] as unknown as string[])), [
      { line: null, message: 'channels[0] must be a string, not boolean' },
      { line: null, message: 'entries[1] must be a string, not number' },
      { line: null, message: 'entries[2] must be a string, not null' },
    ]);
  });

  it('needs at least one entry and applies the size limit', () => {
    assert.deepEqual(problemsOf(() => environmentFromEntries([])), [{ line: null, message: 'entries must list at least one package' }]);
    assert.deepEqual(problemsOf(() => environmentFromEntries(['numpy', 'scipy'], [], { maxBytes: 9 })), [
      { line: null, message: 'Conda file size exceeds the maximum allowed size of 9 bytes' },
    ]);
  });

  it('gives the same environment file as the equivalent environment.yml', () => {
    const fromEntries = environmentFromEntries(['numpy=1.26', 'pip:rich'], ['conda-forge']);
    const fromFile = parseEnvironmentFile('channels: [conda-forge]\ndependencies:\n  - numpy=1.26\n  - pip\n  - pip: [rich]\n');
    assert.equal(renderEnvironmentFile(fromEntries), renderEnvironmentFile(fromFile));
  });
});

describe('appendChannels', () => {
  it("appends the request's channels after the file's own, without repeats", () => {
    const environment = parseEnvironmentFile('channels: [bioconda]\ndependencies: [samtools]\n');
    assert.deepEqual(appendChannels(environment, ['conda-forge', 'bioconda']).channels, ['bioconda', 'conda-forge']);
    assert.deepEqual(environment.channels, ['bioconda'], 'the input is not modified');
  });

  it('validates the appended channels', () => {
    assert.deepEqual(problemsOf(() => appendChannels({ ...empty }, ['file:/x', 'ok'])), [
      { line: null, message: 'channels[0] "file:/x" is not a valid conda channel: "file:" may only contain letters, digits, "_", "." and "-", and must not start with "." or "-"' },
    ]);
  });
});

describe('renderEnvironmentFile', () => {
  const full: CondaEnvironment = {
    name: 'rnaseq',
    channels: ['conda-forge', 'bioconda'],
    dependencies: ['python=3.11', 'numpy>=1.2,<2', 'bioconda::samtools=1.19', "numpy[version='>=1.2']", 'pip'],
    pip: ['requests==2.31.0', 'scanpy[leiden]>=1.10'],
    variables: { OMP_NUM_THREADS: '1', DATA_DIR: '/data' },
  };

  it('writes the canonical layout', () => {
    assert.equal(
      renderEnvironmentFile(full),
      [
        'name: rnaseq',
        'channels:',
        '  - conda-forge',
        '  - bioconda',
        'dependencies:',
        '  - python=3.11',
        '  - numpy>=1.2,<2',
        '  - bioconda::samtools=1.19',
        "  - numpy[version='>=1.2']",
        '  - pip',
        '  - pip:',
        '      - requests==2.31.0',
        '      - scanpy[leiden]>=1.10',
        'variables:',
        '  DATA_DIR: /data',
        '  OMP_NUM_THREADS: "1"',
        '',
      ].join('\n'),
    );
    assert.equal(renderEnvironmentFile(empty), 'dependencies: []\n');
  });

  it('quotes exactly the strings a YAML reader would not keep as plain strings', () => {
    const rendered = renderEnvironmentFile({
      ...empty,
      dependencies: ['numpy'],
      variables: {
        A: '1.10', B: 'yes', C: 'a: b', D: 'x #y', E: '*star', F: 'ünïcode', G: 'say "hi"', H: 'null', I: '', J: 'trailing ',
        K: '.inf', L: '~', M: '/plain/path', N: 'a,b:c d',
      },
    });
    assert.equal(
      rendered.split('variables:\n')[1],
      [
        '  A: "1.10"',
        '  B: "yes"',
        '  C: "a: b"',
        '  D: "x #y"',
        '  E: "*star"',
        '  F: "ünïcode"',
        '  G: "say \\"hi\\""',
        '  H: "null"',
        '  I: ""',
        '  J: "trailing "',
        '  K: ".inf"',
        '  L: "~"',
        '  M: /plain/path',
        '  "N": a,b:c d', // a YAML 1.1 reader takes a bare N for false
        '',
      ].join('\n'),
    );
  });

  it('round-trips: parsing the rendered file gives the environment back', () => {
    const tricky: CondaEnvironment = {
      ...full,
      variables: { QUOTES: `it's "quoted" \\ $HOME`, NUMBER: '007', BOOL: 'off', COLON: 'http://x:1/a', HASH: '#1' },
    };
    const rendered = renderEnvironmentFile(tricky);
    assert.deepEqual(parseEnvironmentFile(rendered), { ...tricky, variables: Object.fromEntries(Object.entries(tricky.variables).sort()) });
    assert.deepEqual(parseYaml(rendered, { version: '1.1' }).variables, parseYaml(rendered).variables, 'YAML 1.1 readers see the same strings');
  });

  it('is deterministic: differently written equal files render to the same bytes', () => {
    const block = parseEnvironmentFile(
      'name: demo\nchannels:\n  - conda-forge\ndependencies:\n  - numpy=1.26 # pinned\n  - pip\n  - pip:\n    - rich\nvariables:\n  B: 2\n  A: one\n',
    );
    const flow = parseEnvironmentFile(
      '{name: "demo", channels: [conda-forge, conda-forge], variables: {A: one, B: 2}, dependencies: ["  numpy=1.26", pip, {pip: [rich]}]}',
    );
    assert.equal(renderEnvironmentFile(block), renderEnvironmentFile(flow));
    assert.equal(renderEnvironmentFile(block), renderEnvironmentFile(parseEnvironmentFile(renderEnvironmentFile(block))));
  });
});

function captureError(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  return undefined;
}
