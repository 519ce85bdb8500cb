import { knownErrors, type KnownError } from './known-errors.ts';

/** One known error found in the text. */
export interface ExplainedError {
  id: string;
  title: string;
  cause: string;
  fix: string;
  /** The part of the text that matched. */
  matched: string;
}

export interface ExplainResult {
  recognised: boolean;
  /** Most specific first (the table's order); empty when nothing is recognised. */
  matches: ExplainedError[];
  /** What to do when nothing is recognised. */
  nextSteps?: string[];
}

/** Longest pasted text looked at: error reports are short, logs are cut rather than scanned whole. */
export const maxExplainChars = 64 * 1024;

const genericSteps = [
  'berth doctor --workspace WORKSPACE   checks the whole setup (container repository, credentials, compute environments, pull access, pull-through rules, studio URLs, agent versions) and prints each fix',
  'berth check IMAGE   says whether an image exists, its platforms and who may pull it',
  'paste the first error line of the failing step (not the retries around it)',
];

/** Maps a pasted error text to the known errors it contains, with their cause and fix. */
export function explainError(text: string): ExplainResult {
  const subject = text.slice(0, maxExplainChars);
  const matches = knownErrors.flatMap((entry) => {
    const found = firstMatch(entry, subject);
    return found ? [explained(entry, found)] : [];
  });
  return matches.length > 0 ? { recognised: true, matches } : { recognised: false, matches: [], nextSteps: genericSteps };
}

function firstMatch(entry: KnownError, text: string): RegExpExecArray | undefined {
  for (const pattern of entry.patterns) {
    const match = pattern.exec(text);
    if (match) return match;
  }
  return undefined;
}

function explained(entry: KnownError, match: RegExpExecArray): ExplainedError {
  const groups = { ...match.groups };
  return {
    id: entry.id,
    title: entry.title,
    cause: entry.cause,
    fix: typeof entry.fix === 'string' ? entry.fix : entry.fix(groups),
    matched: match[0],
  };
}
