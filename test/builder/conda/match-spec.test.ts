import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CondaChannelError, MatchSpecError, parseChannel, parseMatchSpec, type MatchSpec } from '../../../src/builder/conda/match-spec.ts';

/** Specs conda/mamba install as written, and what they parse into. */
const accepted: Array<[string, MatchSpec]> = [
  ['numpy', { name: 'numpy' }],
  ['pip', { name: 'pip' }],
  ['numpy=1.26', { name: 'numpy', version: '=1.26' }],
  ['numpy==1.26.4', { name: 'numpy', version: '==1.26.4' }],
  ['numpy>=1.2,<2', { name: 'numpy', version: '>=1.2,<2' }],
  ['numpy >= 1.2 , < 2', { name: 'numpy', version: '>=1.2,<2' }],
  ['numpy 1.26.* py311*', { name: 'numpy', version: '1.26.*', build: 'py311*' }],
  ['numpy=1.26=py311_0', { name: 'numpy', version: '=1.26', build: 'py311_0' }],
  ['numpy==1.26.4=py311h64a7726_0', { name: 'numpy', version: '==1.26.4', build: 'py311h64a7726_0' }],
  ['foo==1.0=*', { name: 'foo', version: '==1.0', build: '*' }],
  ['conda-forge::numpy=1.26', { name: 'numpy', channel: 'conda-forge', version: '=1.26' }],
  ['bioconda::samtools=1.19', { name: 'samtools', channel: 'bioconda', version: '=1.19' }],
  ['conda-forge/linux-64::numpy', { name: 'numpy', channel: 'conda-forge', subdir: 'linux-64' }],
  ['conda-forge/label/dev::numpy', { name: 'numpy', channel: 'conda-forge/label/dev' }],
  ['https://conda.anaconda.org/conda-forge::numpy', { name: 'numpy', channel: 'https://conda.anaconda.org/conda-forge' }],
  ["numpy[version='>=1.2']", { name: 'numpy', version: '>=1.2' }],
  ['numpy[version=">=1.2, <2", build=py311*]', { name: 'numpy', version: '>=1.2,<2', build: 'py311*' }],
  ["pytorch[build=*cuda*, channel=pytorch]", { name: 'pytorch', build: '*cuda*', channel: 'pytorch' }],
  ['numpy=1.25[version=1.26.*]', { name: 'numpy', version: '1.26.*' }],
  ['python=3.11', { name: 'python', version: '=3.11' }],
  ['python 3.11.*', { name: 'python', version: '3.11.*' }],
  ['scikit-learn~=1.3', { name: 'scikit-learn', version: '~=1.3' }],
  ['numpy!=1.2.*', { name: 'numpy', version: '!=1.2.*' }],
  ['numpy >=1.7,<1.8|>=1.9', { name: 'numpy', version: '>=1.7,<1.8|>=1.9' }],
  ["numpy[version='(>=1.7,<1.8)|>=1.9']", { name: 'numpy', version: '(>=1.7,<1.8)|>=1.9' }],
  ['r-base>=4.3', { name: 'r-base', version: '>=4.3' }],
  ['_libgcc_mutex=0.1=conda_forge', { name: '_libgcc_mutex', version: '=0.1', build: 'conda_forge' }],
  ['openssl 1.0.1_', { name: 'openssl', version: '1.0.1_' }],
  ['numpy 1!2.0', { name: 'numpy', version: '1!2.0' }],
  ['tzdata 2024a', { name: 'tzdata', version: '2024a' }],
  ['numpy 1.7.0.post123+gabcdef9', { name: 'numpy', version: '1.7.0.post123+gabcdef9' }],
  ['numpy *', { name: 'numpy', version: '*' }],
  ["numpy[md5=0123456789abcdef0123456789abcdef]", { name: 'numpy', attributes: { md5: '0123456789abcdef0123456789abcdef' } }],
  ['numpy[build_number=">=2"]', { name: 'numpy', attributes: { build_number: '>=2' } }],
  ['PyYAML', { name: 'PyYAML' }],
  ['  numpy=1.26  ', { name: 'numpy', version: '=1.26' }],
];

/** Specs that must be refused, with the reason the user sees. */
const rejected: Array<[string, RegExp]> = [
  ['', /it is empty/],
  ['   ', /it is empty/],
  ['numpy;rm -rf /', /illegal character ";" at position 6/],
  ['numpy`id`', /illegal character "`"/],
  ['num\npy', /control character U\+000A at position 4/],
  ['num\tpy', /control character U\+0009 at position 4/],
  ['numpÿ', /non-ASCII character "ÿ"/],
  ['numpy>=1.2,<', /the operator "<" has no version after it/],
  ['numpy>=1.2,', /dangling "," at the end of the version/],
  ['numpy==', /the operator "==" has no version after it/],
  ['numpy=1.5||1.6', /"\|\|" has nothing between the operators/],
  ['numpy ><2.4.5', /invalid operator "><"/],
  ['numpy ===3.3.2', /invalid operator "==="/],
  ['numpy !!2.4.5', /invalid operator/],
  ['numpy ~=3.3.2.*', /"~=" cannot be combined with a wildcard/],
  ['numpy (1.5', /unbalanced parentheses/],
  ['numpy 1.5)', /unbalanced parentheses|empty parentheses/],
  ['numpy[version=1', /unbalanced brackets: "\[" is never closed/],
  ['numpy]', /unbalanced brackets: "\]" without "\["/],
  ['numpy[version=1][build=0]', /only one \[key=value\] section/],
  ['numpy[version=1.2]extra', /unexpected text "extra" after the closing "\]"/],
  ["numpy[version='1.2]", /unterminated ' quote/],
  ['numpy[version=]', /"version" in the \[key=value\] section has an empty value/],
  ['numpy[foo=bar]', /unknown key "foo"/],
  ['numpy[version=1.2, version=1.3]', /"version" appears twice/],
  ['numpy[md5=abc]', /md5 must be 32 hexadecimal digits/],
  ["numpy 'quoted'", /quotes are only allowed inside a \[key=value\] section/],
  ['conda-forge:numpy', /use "::" between the channel and the package name/],
  ['::numpy', /channel "": the channel is empty/],
  ['conda-forge::bioconda::numpy', /more than one channel separator/],
  ['conda forge::numpy', /channel "conda forge"/],
  ['./local::numpy', /local path channels do not exist inside the build/],
  ['ftp://example.org/channel::numpy', /unsupported URL scheme "ftp"/],
  ['conda-forge//linux-64::numpy', /empty path component/],
  ['https://example.org/numpy-1.0-0.conda', /package URLs are not supported/],
  ['>=1.2', /the package name is missing before ">=1.2"/],
  ['conda-forge::', /the package name is missing/],
  ['nump*', /contains a wildcard/],
  ['numpy,scipy', /unexpected "," in the package name/],
  ['numpy__core', /may only contain letters, digits and single/],
  ['-numpy', /may only contain letters, digits and single/],
  ['numpy ^1\\.2.*$', /regular-expression versions \(\^…\$\) are not supported by micromamba/],
  ['numpy 1.2 py3 extra', /too many space-separated parts/],
  ['numpy 1..2', /invalid version "1..2": empty component/],
  ['numpy=1.2+', /invalid version "1.2\+": empty component/],
  ['numpy +1.2', /invalid version "\+1.2": nothing before "\+"/],
  ['numpy 1!2!3', /more than one "!" epoch separator/],
  ['numpy a!1.0', /the epoch before "!" must be an integer/],
  ['numpy=1.*.1', /"\*" is only allowed at the end of a version/],
  ['numpy 1.2 py-3', /the build string "py-3" may only contain/],
  ['numpy # comment', /comments \("#"\) are not allowed/],
  [`numpy=${'1.'.repeat(40)}1`, /longer than 64 characters/],
  [`${'a'.repeat(65)}`, /the package name is longer than 64 characters/],
  [`numpy${' '.repeat(1000)}x`, /longer than 1000 characters/],
];

describe('conda match specs', () => {
  describe('accepts', () => {
    for (const [spec, expected] of accepted) {
      it(JSON.stringify(spec).slice(0, 80), () => {
        assert.deepEqual(parseMatchSpec(spec), expected);
      });
    }
  });

  describe('rejects with the reason', () => {
    for (const [spec, reason] of rejected) {
      it(`${JSON.stringify(spec).slice(0, 60)} → ${reason.source.slice(0, 60)}`, () => {
        const error = captureError(() => parseMatchSpec(spec));
        assert.ok(error instanceof MatchSpecError, `spec ${JSON.stringify(spec)} was accepted or threw ${String(error)}`);
        assert.match(error.reason, reason);
      });
    }
  });

  it('quotes the spec and the reason in the message', () => {
    assert.throws(() => parseMatchSpec('numpy>=1.2,<'), {
      name: 'MatchSpecError',
      spec: 'numpy>=1.2,<',
      message: '"numpy>=1.2,<" is not a valid conda match spec: the operator "<" has no version after it',
    });
  });

  it('clips a very long spec in the message but keeps it whole on the error', () => {
    const spec = `numpy ${'x'.repeat(2000)}`;
    const error = captureError(() => parseMatchSpec(spec));
    assert.ok(error instanceof MatchSpecError);
    assert.equal(error.spec, spec);
    assert.ok(error.message.length < 400, error.message);
  });
});

describe('conda channels', () => {
  it('accepts names, labels, subdirs and http(s)/file URLs', () => {
    assert.deepEqual(parseChannel('conda-forge'), { channel: 'conda-forge' });
    assert.deepEqual(parseChannel('defaults'), { channel: 'defaults' });
    assert.deepEqual(parseChannel('nodefaults'), { channel: 'nodefaults' });
    assert.deepEqual(parseChannel('conda-forge/label/broken'), { channel: 'conda-forge/label/broken' });
    assert.deepEqual(parseChannel('bioconda/noarch'), { channel: 'bioconda', subdir: 'noarch' });
    assert.deepEqual(parseChannel('https://conda.anaconda.org/conda-forge'), { channel: 'https://conda.anaconda.org/conda-forge' });
    assert.deepEqual(parseChannel('http://127.0.0.1:8080/my-channel'), { channel: 'http://127.0.0.1:8080/my-channel' });
    assert.deepEqual(parseChannel('file:///opt/channel'), { channel: 'file:///opt/channel' });
  });

  it('rejects empty, spaced, local-path and oddly-schemed channels', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /the channel is empty/],
      ['conda forge', /may only contain letters, digits/],
      ['.hidden', /must not start with "." or "-"/],
      ['/opt/channel', /local path channels/],
      ['../channel', /local path channels/],
      ['s3://bucket/channel', /unsupported URL scheme "s3"/],
      ['https://', /the URL has no host or path/],
      ['https://example.org/a b', /characters that are not allowed/],
    ];
    for (const [channel, reason] of cases) {
      const error = captureError(() => parseChannel(channel));
      assert.ok(error instanceof CondaChannelError, `channel ${JSON.stringify(channel)} was accepted`);
      assert.match(error.reason, reason, `channel ${JSON.stringify(channel)}`);
      assert.match(error.message, /is not a valid conda channel: /);
    }
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
