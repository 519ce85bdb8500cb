import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cleanPath, Dockerignore, DockerignoreError } from '../../../src/builder/studio-config/dockerignore.ts';

/** [ignore file text, path relative to the context root, expected: excluded?] */
type Case = [string, string, boolean];

function check(cases: Case[]): void {
  for (const [text, path, excluded] of cases) {
    assert.equal(Dockerignore.parse(text).excludes(path), excluded, `rules ${JSON.stringify(text)} on ${JSON.stringify(path)}`);
  }
}

describe('.dockerignore reading', () => {
  it('skips comments (also indented ones) and blank lines, and trims each line', () => {
    const ignore = Dockerignore.parse('# a comment\n\n   \n  # indented comment\n  secret.txt  \n\t*.log\t\n');
    assert.deepEqual(
      ignore.rules.map((rule) => [rule.pattern, rule.line]),
      [
        ['secret.txt', 5],
        ['*.log', 6],
      ],
    );
    check([
      ['# secret.txt', 'secret.txt', false],
      ['  secret.txt  ', 'secret.txt', true],
    ]);
  });

  it('drops a byte-order mark and accepts CRLF line ends', () => {
    const ignore = Dockerignore.parse('\uFEFFfirst\r\nsecond\r\n');
    assert.deepEqual(ignore.rules.map((rule) => rule.pattern), ['first', 'second']);
    assert.equal(ignore.excludes('first'), true);
    assert.equal(ignore.excludes('second'), true);
  });

  it('cleans patterns like filepath.Clean: leading / and ./, trailing /, //, . and .. segments', () => {
    check([
      ['/foo/bar', 'foo/bar', true],
      ['./foo', 'foo', true],
      ['foo/', 'foo/file', true],
      ['foo//bar', 'foo/bar', true],
      ['foo/./bar', 'foo/bar', true],
      ['foo/x/../bar', 'foo/bar', true],
      ['../outside', 'outside', false],
      ['/', 'anything', false],
    ]);
    assert.equal(cleanPath('a/b/../../..'), '..');
    assert.equal(cleanPath('/a/../..'), '/');
    assert.equal(cleanPath(''), '.');
  });

  it('treats ! lines as exceptions, trimming after the !', () => {
    const ignore = Dockerignore.parse('*.md\n!   README.md\n');
    assert.equal(ignore.hasExceptions, true);
    assert.deepEqual(ignore.rules[1], { ...ignore.rules[1], pattern: 'README.md', exception: true, line: 2 });
    assert.equal(ignore.excludes('README.md'), false);
    assert.equal(ignore.excludes('CHANGES.md'), true);
  });

  it('refuses what Docker refuses, naming the line', () => {
    const refused: Array<[string, number, RegExp]> = [
      ['ok\n!\n', 2, /illegal exclusion pattern/],
      ['ok\n\n!   \n', 3, /illegal exclusion pattern/],
      ['!/', 1, /illegal exclusion pattern/],
      ['a\nb\nfile[\n', 3, /missing "\]"/],
      ['[^bc', 1, /missing "\]"/],
      ['[z-a]', 1, /runs backwards/],
      ['[]a]', 1, /unescaped "\]"/],
      ['[-x]', 1, /unescaped "-"/],
      ['[x-]', 1, /malformed character class/],
      ['[a-b-c]', 1, /malformed character class/],
      ['# fine\ntrailing\\', 2, /lone "\\"/],
    ];
    for (const [text, line, message] of refused) {
      assert.throws(
        () => Dockerignore.parse(text),
        (error: unknown) => error instanceof DockerignoreError && error.line === line && message.test(error.message) && error.message.startsWith(`line ${line}:`),
        JSON.stringify(text),
      );
    }
  });

  it('an empty file, or one with only comments, excludes nothing', () => {
    for (const text of ['', '# nothing\n\n']) {
      const ignore = Dockerignore.parse(text);
      assert.equal(ignore.rules.length, 0);
      assert.equal(ignore.excludes('any/file'), false);
    }
    assert.equal(Dockerignore.empty().excludes('x'), false);
  });
});

describe('.dockerignore matching', () => {
  it('* and ? stay within one path segment', () => {
    check([
      ['*', 'file', true],
      ['*', 'dir/file', true], // through the parent "dir"
      ['*.go', 'main.go', true],
      ['*.go', 'cmd/main.go', false],
      ['a*/b', 'abc/b', true],
      ['a*/b', 'a/c/b', false],
      ['abc?def', 'abcZdef', true],
      ['abc?def', 'abcdef', false],
      ['a?b', 'a/b', false],
      ['a?b', 'a☺b', true],
    ]);
  });

  it('the documentation example: */temp*, */*/temp*, temp?', () => {
    const rules = '# comment\n*/temp*\n*/*/temp*\ntemp?\n';
    check([
      [rules, 'somedir/temporary.txt', true],
      [rules, 'somedir/temp', true],
      [rules, 'somedir/subdir/temporary.txt', true],
      [rules, 'tempa', true],
      [rules, 'tempb', true],
      [rules, 'temporary.txt', false],
      [rules, 'a/b/c/temp.txt', false],
    ]);
  });

  it('a rule that matches a directory excludes everything below it', () => {
    check([
      ['node_modules', 'node_modules/pkg/index.js', true],
      ['node_modules', 'src/node_modules/pkg/index.js', false],
      ['docs', 'docs', true],
      ['docs/', 'docs/README.md', true],
      ['docs/*', 'docs/sub/deeper/file', true],
    ]);
  });

  it('** matches any number of directories, including none', () => {
    check([
      ['**/*.go', 'main.go', true],
      ['**/*.go', 'a/b/c/main.go', true],
      ['**/dir', 'dir', true],
      ['**/dir', 'x/dir/file', true],
      ['**/foo/bar', 'foo/bar', true],
      ['**/foo/bar', 'dir/dir2/foo/bar', true],
      ['**/dir2/*', 'dir/dir2/file', true],
      ['**/**/*.txt', 'file.txt', true],
      ['**/**/*.txt2', 'dir/dir/file.txt', false],
      ['a**/*.txt', 'a/dir/dir/file.txt', true],
      ['**/.foo', 'bar.foo', false],
      ['**', 'anything/at/all', true],
    ]);
  });

  it('a trailing ** matches what is below, not the directory itself', () => {
    check([
      ['abc/**', 'abc', false],
      ['abc/**', 'abc/def', true],
      ['abc/**', 'abc/def/ghi', true],
      ['a/*.txt**', 'a/file.txt', true],
    ]);
  });

  it('a leading ** with no other wildcard is a plain suffix test, as in Docker', () => {
    check([
      ['**file', 'file', true],
      ['**file', 'dir/dir/file', true],
      ['**file', 'myfile', true],
      ['**/file', 'myfile', false],
    ]);
  });

  it('character classes, negation and escapes', () => {
    check([
      ['a[b-d]e', 'ace', true],
      ['a[b-d]e', 'aae', false],
      ['a[b-d]e', 'ae', false],
      ['a[^b-d]e', 'aze', true],
      ['ab[^c]', 'abc', false],
      ['[\\]a]', ']', true],
      ['[x\\-]', '-', true],
      ['[x\\-]', 'z', false],
      ['[a-ζ]*', 'α', true],
      ['a\\*b', 'a*b', true],
      ['a\\*b', 'ab', false],
    ]);
  });

  it('regular-expression characters are literal', () => {
    check([
      ['abc.def', 'abc.def', true],
      ['abc.def', 'abcZdef', false],
      ['.*', '.foo', true],
      ['.*', 'foo', false],
      ['a(b)c/def', 'a(b)c/def', true],
      ['a.|)$(}+{bc', 'a.|)$(}+{bc', true],
      ['dist/*.whl', 'dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl', true],
    ]);
  });

  it('the last matching line wins (the documentation README examples)', () => {
    check([
      ['*.md\n!README*.md\nREADME-secret.md', 'README-secret.md', true],
      ['*.md\n!README*.md\nREADME-secret.md', 'README.md', false],
      ['*.md\n!README*.md\nREADME-secret.md', 'CHANGES.md', true],
      ['*.md\nREADME-secret.md\n!README*.md', 'README-secret.md', false],
      ['!fileutils.go\n*.go', 'fileutils.go', true],
      ['*.go\n!fileutils.go', 'fileutils.go', false],
    ]);
  });

  it('an exception re-includes a file inside an excluded directory', () => {
    check([
      ['docs\n!docs/README.md', 'docs/README.md', false],
      ['docs\n!docs/README.md', 'docs/other.md', true],
      ['docs/\n!docs/README.md', 'docs/README.md', false],
      ['**\n!util/docker/web', 'util/docker/web/foo', false],
      ['**\n!util/docker/web\nutil/docker/web/foo', 'util/docker/web/foo', true],
      ['cache\n!**/*.keep', 'cache/deep/x.keep', false],
    ]);
  });

  it('"*" followed by exceptions keeps only what is listed', () => {
    const rules = '*\n!src\n!Dockerfile\n';
    check([
      [rules, 'src/main.py', false],
      [rules, 'Dockerfile', false],
      [rules, 'data/big.csv', true],
      [rules, 'notes.txt', true],
    ]);
  });

  it('normalises the path it is asked about, and never excludes the context root', () => {
    const ignore = Dockerignore.parse('build\n');
    assert.equal(ignore.excludes('./build/out.o'), true);
    assert.equal(ignore.excludes('build/'), true);
    assert.equal(Dockerignore.parse('*').excludes('.'), false);
    assert.equal(Dockerignore.parse('**').excludes(''), false);
  });

  it('prunes a directory only when no exception could bring something back', () => {
    assert.equal(Dockerignore.parse('node_modules').prunes('node_modules'), true);
    assert.equal(Dockerignore.parse('node_modules').prunes('src'), false);
    assert.equal(Dockerignore.parse('node_modules\n!node_modules/keep').prunes('node_modules'), false);
  });
});
