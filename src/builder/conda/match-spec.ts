/**
 * Validation of conda MatchSpec strings: the package lines of an environment.yml and Wave's
 * `packages.entries`. A bad spec must fail here, with a reason a scientist can act on, rather
 * than minutes later inside a build.
 *
 * Accepted grammar (conda's positional and bracket forms; names and channels as CEP 26 defines them):
 *
 *   [channel[/subdir]::]name[ version[ build]] [ "[" key=value{,key=value} "]" ]
 *   [channel[/subdir]::]name[=version[=build]] ...        (the `=`-separated positional form)
 *
 *   version   := or;  or := and ("|" and)*;  and := term ("," term)*;  term := "(" or ")" | atom
 *   atom      := "*" | operator version-string | version-string["*" | ".*"]
 *   operator  := "==" | "!=" | "<=" | ">=" | "~=" | "=" | "<" | ">"
 *
 * Deliberately stricter than conda in a few places, each because the spec would not install as
 * written inside a micromamba build: regular-expression versions (`^…$`, unsupported by
 * libmamba), wildcard package names, a single `:` (conda reads it as a namespace and silently
 * drops the channel), local-path channels, and package URLs/files.
 */

/** A validated spec. `version` is the constraint as written, without whitespace (e.g. `>=1.2,<2`, `=1.26`). */
export interface MatchSpec {
  channel?: string;
  subdir?: string;
  name: string;
  version?: string;
  build?: string;
  /** Other bracket keys (`build_number`, `md5`, `sha256`, `license`, …), as written. */
  attributes?: Record<string, string>;
}

/** A malformed spec; `reason` says what is wrong, `message` quotes the spec too. */
export class MatchSpecError extends Error {
  constructor(
    readonly spec: string,
    readonly reason: string,
  ) {
    super(`"${clip(spec)}" is not a valid conda match spec: ${reason}`);
    this.name = 'MatchSpecError';
  }
}

/** A malformed channel name or URL (in an environment file's `channels` or a request's `channels`). */
export class CondaChannelError extends Error {
  constructor(
    readonly channel: string,
    readonly reason: string,
  ) {
    super(`"${clip(channel)}" is not a valid conda channel: ${reason}`);
    this.name = 'CondaChannelError';
  }
}

/** Parses and validates one spec; throws MatchSpecError with the precise reason. */
export function parseMatchSpec(text: string): MatchSpec {
  try {
    return readMatchSpec(text.trim());
  } catch (error) {
    if (error instanceof Invalid) throw new MatchSpecError(text, error.reason);
    throw error;
  }
}

/** Validates a channel given as a name (`conda-forge`, `conda-forge/label/dev`) or an http(s)/file URL. */
export function parseChannel(text: string): { channel: string; subdir?: string } {
  try {
    return readChannel(text.trim());
  } catch (error) {
    if (error instanceof Invalid) throw new CondaChannelError(text, error.reason);
    throw error;
  }
}

const maxSpecLength = 1000;
const maxNameLength = 64;
const maxVersionLength = 64;
const maxBuildLength = 64;
const maxChannelComponentLength = 128;

/** Internal failure carrying only the reason; the public functions wrap it with the input. */
class Invalid extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

function fail(reason: string): never {
  throw new Invalid(reason);
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

function readMatchSpec(spec: string): MatchSpec {
  if (spec === '') fail('it is empty');
  if (spec.length > maxSpecLength) fail(`it is longer than ${maxSpecLength} characters`);
  checkCharacters(spec);
  const { positional, brackets } = splitBrackets(spec);
  const { channelPart, rest } = splitChannel(positional);
  const result: MatchSpec = { name: '' };
  if (channelPart !== undefined) Object.assign(result, readChannelWithin(channelPart));
  const name = /^[^\s=<>!~]*/.exec(rest)?.[0] ?? '';
  if (name === '') fail(rest === '' ? 'the package name is missing' : `the package name is missing before "${clip(rest)}"`);
  checkPackageName(name);
  result.name = name;
  const versionAndBuild = rest.slice(name.length).trim();
  if (versionAndBuild !== '') {
    const { version, build } = splitVersionAndBuild(versionAndBuild);
    result.version = checkVersionSpec(version);
    if (build !== undefined) result.build = checkBuild(build);
  }
  if (brackets !== undefined) applyBrackets(result, readBrackets(brackets));
  return result;
}

/** Characters a spec may contain at all; everything else (shell metacharacters, control bytes, non-ASCII) is refused. */
const allowedCharacter = /[A-Za-z0-9 _.\-+*!=<>~,|()[\]:/'"%]/;

function checkCharacters(spec: string): void {
  for (let index = 0; index < spec.length; index++) {
    const character = spec[index] as string;
    if (allowedCharacter.test(character)) continue;
    const position = index + 1;
    const code = character.codePointAt(0) ?? 0;
    if (character === '^' || character === '$') {
      fail('regular-expression versions (^…$) are not supported by micromamba; use operators such as >=1.2,<2');
    }
    if (character === '#') fail(`comments ("#") are not allowed inside a match spec (position ${position})`);
    if (code < 0x20 || code === 0x7f) fail(`control character U+${code.toString(16).toUpperCase().padStart(4, '0')} at position ${position}`);
    if (code > 0x7f) fail(`non-ASCII character "${String.fromCodePoint(code)}" at position ${position}`);
    fail(`illegal character "${character}" at position ${position}`);
  }
}

function splitBrackets(spec: string): { positional: string; brackets?: string } {
  const opens = [...spec].filter((c) => c === '[').length;
  const closes = [...spec].filter((c) => c === ']').length;
  if (opens === 0 && closes === 0) {
    if (/['"]/.test(spec)) fail('quotes are only allowed inside a [key=value] section');
    return { positional: spec };
  }
  if (opens !== closes) fail(opens > closes ? 'unbalanced brackets: "[" is never closed' : 'unbalanced brackets: "]" without "["');
  if (opens > 1) fail('only one [key=value] section is allowed');
  const open = spec.indexOf('[');
  const close = spec.indexOf(']');
  if (close < open) fail('unbalanced brackets: "]" before "["');
  if (close !== spec.length - 1) fail(`unexpected text "${clip(spec.slice(close + 1))}" after the closing "]"`);
  const positional = spec.slice(0, open).trim();
  if (/['"]/.test(positional)) fail('quotes are only allowed inside a [key=value] section');
  return { positional, brackets: spec.slice(open + 1, close) };
}

function splitChannel(positional: string): { channelPart?: string; rest: string } {
  const separator = positional.indexOf('::');
  if (separator < 0) {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(positional)) fail('package URLs are not supported; give a package name and version');
    if (positional.includes(':')) fail('use "::" between the channel and the package name (conda reads a single ":" as a namespace and ignores the channel)');
    return { rest: positional };
  }
  const rest = positional.slice(separator + 2);
  if (rest.includes(':')) fail('more than one channel separator ("::" or ":")');
  return { channelPart: positional.slice(0, separator), rest: rest.trimStart() };
}

function readChannelWithin(channelPart: string): { channel: string; subdir?: string } {
  try {
    return readChannel(channelPart);
  } catch (error) {
    if (error instanceof Invalid) fail(`channel "${clip(channelPart)}": ${error.reason}`);
    throw error;
  }
}

/** Platform subdirectories conda knows; a trailing channel path component equal to one of them is a subdir. */
const knownSubdirs = new Set([
  'noarch', 'linux-32', 'linux-64', 'linux-aarch64', 'linux-armv6l', 'linux-armv7l', 'linux-ppc64', 'linux-ppc64le',
  'linux-riscv64', 'linux-s390x', 'osx-64', 'osx-arm64', 'win-32', 'win-64', 'win-arm64', 'freebsd-64', 'zos-z',
  'emscripten-wasm32', 'wasi-wasm32',
]);

/** CEP 26 channel path component, case-insensitive to tolerate names as people type them. */
const channelComponent = /^[a-z0-9_][a-z0-9_.-]*$/i;

function readChannel(channel: string): { channel: string; subdir?: string } {
  if (channel === '') fail('the channel is empty');
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(channel)?.[1];
  if (scheme !== undefined) return { channel: readChannelUrl(channel, scheme.toLowerCase()) };
  if (/^(\.{0,2}\/|~)/.test(channel)) fail('local path channels do not exist inside the build; use a channel name or URL');
  const components = channel.split('/');
  for (const component of components) {
    if (component === '') fail('empty path component (two "/" in a row, or a leading/trailing "/")');
    if (component.length > maxChannelComponentLength) fail(`path component longer than ${maxChannelComponentLength} characters`);
    if (!channelComponent.test(component)) {
      fail(`"${clip(component)}" may only contain letters, digits, "_", "." and "-", and must not start with "." or "-"`);
    }
  }
  const last = components[components.length - 1] as string;
  if (components.length > 1 && knownSubdirs.has(last)) return { channel: components.slice(0, -1).join('/'), subdir: last };
  return { channel };
}

function readChannelUrl(url: string, scheme: string): string {
  if (!['http', 'https', 'file'].includes(scheme)) fail(`unsupported URL scheme "${scheme}" (use https, http or file)`);
  const rest = url.slice(scheme.length + 3);
  if (rest === '' || rest === '/') fail('the URL has no host or path');
  if (!/^[A-Za-z0-9._~\-/:%+]+$/.test(rest)) fail('the URL contains characters that are not allowed in a channel URL');
  return url;
}

/** CEP 26 package name: alphanumeric runs joined by single ".", "-" or "_", optionally after one "_" (or "__" for virtual packages). */
const packageName = /^(?:__|_)?[a-z0-9]+(?:[._-][a-z0-9]+)*[._-]?$/i;

function checkPackageName(name: string): void {
  if (name.includes('*')) fail(`the package name "${clip(name)}" contains a wildcard; name one package`);
  if (name.length > maxNameLength) fail(`the package name is longer than ${maxNameLength} characters`);
  if (/[()|,[\]]/.test(name)) fail(`unexpected "${/[()|,[\]]/.exec(name)?.[0]}" in the package name "${clip(name)}"`);
  if (!packageName.test(name)) {
    fail(`the package name "${clip(name)}" may only contain letters, digits and single ".", "-" or "_" separators`);
  }
}

/**
 * Splits what follows the name into version and build: `1.26.* py311*` (space-separated),
 * `=1.26=py311_0` or `==1.26.4=py311_0` (`=`-separated), or just a version constraint.
 */
function splitVersionAndBuild(text: string): { version: string; build?: string } {
  const tokens = collapseOperatorSpaces(text).split(/\s+/);
  if (tokens.length > 2) fail(`too many space-separated parts in "${clip(text)}"; expected: name [version [build]]`);
  const [version, build] = tokens as [string, string | undefined];
  if (build !== undefined) return { version, build: build.startsWith('=') ? build.slice(1) : build };
  const separator = buildSeparatorIndex(version);
  if (separator < 0) return { version };
  return { version: version.slice(0, separator), build: version.slice(separator + 1) };
}

/** The `=` that starts a build string: not part of an operator, followed by a plain build string. */
function buildSeparatorIndex(token: string): number {
  const index = token.lastIndexOf('=');
  if (index <= 0 || '=!<>~'.includes(token[index - 1] as string)) return -1;
  return /^[^=<>!~,|()]+$/.test(token.slice(index + 1)) ? index : -1;
}

/** `>= 1.2 , < 2` → `>=1.2,<2`: spaces next to operators are layout, not separators. */
function collapseOperatorSpaces(text: string): string {
  return text
    .trim()
    .replace(/\s*([,|()])\s*/g, '$1')
    .replace(/(==|!=|<=|>=|~=|[=<>])\s+/g, '$1');
}

const bracketKeys = new Set([
  'version', 'build', 'build_number', 'channel', 'subdir', 'md5', 'sha256', 'license', 'license_family',
  'track_features', 'features',
]);

/** Reads `key=value, key2='value 2' key3="v"` (comma and/or space separated, values optionally quoted). */
function readBrackets(content: string): Map<string, string> {
  const pairs = new Map<string, string>();
  let index = 0;
  const skipSeparators = (): void => {
    while (index < content.length && /[\s,]/.test(content[index] as string)) index++;
  };
  skipSeparators();
  if (index === content.length) fail('the [key=value] section is empty');
  while (index < content.length) {
    const key = /^[A-Za-z0-9_-]+/.exec(content.slice(index))?.[0];
    if (key === undefined) fail(`malformed [key=value] section near "${clip(content.slice(index))}"`);
    index += key.length;
    if (content[index] !== '=') fail(`"${key}" in the [key=value] section has no "=value"`);
    index++;
    let value: string;
    const quote = content[index];
    if (quote === "'" || quote === '"') {
      const end = content.indexOf(quote, index + 1);
      if (end < 0) fail(`unterminated ${quote} quote in the [key=value] section`);
      value = content.slice(index + 1, end);
      index = end + 1;
    } else {
      value = /^[^\s,'"]*/.exec(content.slice(index))?.[0] ?? '';
      index += value.length;
    }
    if (index < content.length && !/[\s,]/.test(content[index] as string)) {
      fail(`expected "," between key=value pairs near "${clip(content.slice(index))}"`);
    }
    if (value.trim() === '') fail(`"${key}" in the [key=value] section has an empty value`);
    if (!bracketKeys.has(key)) fail(`unknown key "${key}" in the [key=value] section (allowed: ${[...bracketKeys].join(', ')})`);
    if (pairs.has(key)) fail(`"${key}" appears twice in the [key=value] section`);
    pairs.set(key, value.trim());
    skipSeparators();
  }
  return pairs;
}

/** Bracket values override positional ones, as in conda. */
function applyBrackets(spec: MatchSpec, pairs: Map<string, string>): void {
  for (const [key, value] of pairs) {
    if (key === 'version') spec.version = checkVersionSpec(value);
    else if (key === 'build') spec.build = checkBuild(value);
    else if (key === 'channel') Object.assign(spec, readChannelWithin(value));
    else if (key === 'subdir') spec.subdir = checkSubdir(value);
    else spec.attributes = { ...spec.attributes, [key]: checkAttribute(key, value) };
  }
}

function checkSubdir(subdir: string): string {
  if (!knownSubdirs.has(subdir)) fail(`unknown subdir "${clip(subdir)}" (e.g. linux-64, linux-aarch64, osx-arm64, noarch)`);
  return subdir;
}

function checkAttribute(key: string, value: string): string {
  if (key === 'build_number' && !/^(?:==|!=|<=|>=|<|>)?\d+$/.test(value)) fail(`build_number "${clip(value)}" must be an integer, optionally after an operator`);
  if (key === 'md5' && !/^[0-9a-f]{32}$/i.test(value)) fail('md5 must be 32 hexadecimal digits');
  if (key === 'sha256' && !/^[0-9a-f]{64}$/i.test(value)) fail('sha256 must be 64 hexadecimal digits');
  return value;
}

function checkBuild(build: string): string {
  if (build === '') fail('the build string is empty');
  if (build.length > maxBuildLength) fail(`the build string is longer than ${maxBuildLength} characters`);
  if (!/^[A-Za-z0-9_.+*]+$/.test(build)) fail(`the build string "${clip(build)}" may only contain letters, digits, "_", ".", "+" and "*"`);
  return build;
}

/** Validates a version constraint and returns it without layout whitespace. */
function checkVersionSpec(raw: string): string {
  const version = collapseOperatorSpaces(raw);
  if (version === '') fail('the version is empty');
  if (/\s/.test(version)) fail(`the version "${clip(version)}" contains a space`);
  const tokens = version.match(/[(),|]|[^(),|]+/g) ?? [];
  const parser = new VersionExpression(version, tokens);
  parser.parse();
  return version;
}

/** Recursive descent over `|` (lowest precedence), `,` and parentheses; atoms are checked as they are met. */
class VersionExpression {
  private position = 0;

  constructor(
    private readonly text: string,
    private readonly tokens: string[],
  ) {}

  parse(): void {
    this.parseOr();
    const leftover = this.tokens[this.position];
    if (leftover !== undefined) fail(leftover === ')' ? `unbalanced parentheses in the version "${clip(this.text)}"` : `unexpected "${leftover}" in the version "${clip(this.text)}"`);
  }

  private parseOr(): void {
    this.parseAnd();
    while (this.tokens[this.position] === '|') {
      this.position++;
      this.parseAnd();
    }
  }

  private parseAnd(): void {
    this.parseTerm();
    while (this.tokens[this.position] === ',') {
      this.position++;
      this.parseTerm();
    }
  }

  private parseTerm(): void {
    const token = this.tokens[this.position];
    const previous = this.tokens[this.position - 1];
    if (token === undefined) {
      fail(previous === undefined ? 'the version is empty' : `dangling "${previous}" at the end of the version "${clip(this.text)}"`);
    }
    if (token === '(') {
      this.position++;
      this.parseOr();
      if (this.tokens[this.position] !== ')') fail(`unbalanced parentheses in the version "${clip(this.text)}"`);
      this.position++;
      return;
    }
    if (token === ',' || token === '|' || token === ')') {
      if (previous === undefined) fail(`the version "${clip(this.text)}" starts with "${token}"`);
      fail(token === ')' ? `empty parentheses or dangling "${previous}" in the version "${clip(this.text)}"` : `"${previous}${token}" has nothing between the operators in the version "${clip(this.text)}"`);
    }
    checkVersionAtom(token);
    this.position++;
  }
}

const relationalOperator = /^(==|!=|<=|>=|~=|=|<|>)/;

function checkVersionAtom(atom: string): void {
  if (atom === '*') return;
  const operator = relationalOperator.exec(atom)?.[1];
  if (operator === undefined) {
    if ('<>!~'.includes(atom[0] as string)) fail(`invalid operator in "${clip(atom)}" (use ==, !=, <, <=, >, >=, ~= or =)`);
    if (atom.slice(0, -1).includes('*')) fail(`"*" is only allowed at the end of a version ("${clip(atom)}")`);
    checkVersionString(atom.replace(/\.?\*$/, ''), atom);
    return;
  }
  const operand = atom.slice(operator.length);
  if (operand === '') fail(`the operator "${operator}" has no version after it`);
  if ('=<>!~'.includes(operand[0] as string)) fail(`invalid operator "${operator}${operand[0]}" in "${clip(atom)}"`);
  if (operator === '~=' && operand.endsWith('*')) fail(`"~=" cannot be combined with a wildcard ("${clip(atom)}")`);
  if (operand.slice(0, -1).includes('*')) fail(`"*" is only allowed at the end of a version ("${clip(atom)}")`);
  checkVersionString(operand.replace(/\.?\*$/, ''), atom);
}

/** conda's VersionOrder rules: [epoch!]version[+local], components split at "." and "_". */
function checkVersionString(version: string, atom: string): void {
  if (version === '') fail(`"${clip(atom)}" has no version before the wildcard`);
  if (version.length > maxVersionLength) fail(`the version "${clip(version)}" is longer than ${maxVersionLength} characters`);
  let normalized = version.toLowerCase();
  // conda accepts dashes as component separators when the version has no underscores.
  if (normalized.includes('-') && !normalized.includes('_')) normalized = normalized.replaceAll('-', '_');
  if (!/^[0-9a-z._+!]+$/.test(normalized)) {
    fail(`invalid version "${clip(version)}": only letters, digits, ".", "_", "+" and "!" are allowed`);
  }
  const epochParts = normalized.split('!');
  if (epochParts.length > 2) fail(`invalid version "${clip(version)}": more than one "!" epoch separator`);
  if (epochParts.length === 2 && !/^\d+$/.test(epochParts[0] as string)) fail(`invalid version "${clip(version)}": the epoch before "!" must be an integer`);
  const localParts = (epochParts[epochParts.length - 1] as string).split('+');
  if (localParts.length > 2) fail(`invalid version "${clip(version)}": more than one "+" local-version separator`);
  const [main, local] = localParts as [string, string | undefined];
  if (main === '') fail(`invalid version "${clip(version)}": ${localParts.length === 2 ? 'nothing before "+"' : 'nothing after "!"'}`);
  // A single trailing "_" is conda's openssl convention (1.0.1_ < 1.0.1a), not an empty component.
  const mainComponents = main.replace(/_$/, '').split(/[._]/);
  const localComponents = local === undefined ? [] : local.split(/[._]/);
  if ([...mainComponents, ...localComponents].some((component) => component === '')) {
    fail(`invalid version "${clip(version)}": empty component (two separators in a row, or a leading/trailing "." or "+")`);
  }
}
