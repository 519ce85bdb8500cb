import type { LifecyclePolicy, LifecycleRule, LifecycleSelection } from './lifecycle-policy-parse.ts';

/**
 * Which images a lifecycle policy expires, following ECR's "Lifecycle policy evaluation rules":
 * - Rules apply in ascending rulePriority, and an image is expired by exactly one or zero rules.
 * - An image that matches the tagging requirements of a rule (tagStatus and tag lists, whatever the
 *   count says) cannot be expired by a rule with a lower priority: the first matching rule claims it.
 * - Rules "can never mark images that are marked by higher priority rules, but can still identify
 *   them as if they haven't been expired": a lower-priority imageCountMoreThan rule still counts
 *   claimed images among the newest it keeps. ECR's example "Filtering on all images, Example B"
 *   depends on this: its `any` rule keeps the newest image E (claimed by the untagged rule) and so
 *   expires D.
 * - Expiration is ordered by push time: imageCountMoreThan keeps the newest countNumber images it
 *   selects; sinceImagePushed expires those pushed more than countNumber days before `now`.
 */

export interface LifecycleImage {
  digest: string;
  /** No tags means untagged. */
  tags: string[];
  /** Push time, in milliseconds since the epoch. */
  pushedAt: number;
}

export interface ExpiringImage extends LifecycleImage {
  /** The rule that expires the image. */
  rulePriority: number;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The images `policy` expires at time `now` (ms), in rule order and oldest first within a rule.
 * Extra fields of the given images are kept. Images are identified by digest; a repeated digest
 * counts once. Images pushed at the same millisecond are ordered by digest, the greater one newer,
 * so the result never depends on the order of `images`.
 */
export function evaluateLifecycle<Image extends LifecycleImage>(
  policy: LifecyclePolicy,
  images: readonly Image[],
  now: number,
): (Image & ExpiringImage)[] {
  const oldestFirst = uniqueByDigest(images).sort(byPushTime);
  const claimed = new Set<string>();
  const expiring: (Image & ExpiringImage)[] = [];
  for (const rule of [...policy.rules].sort((a, b) => a.rulePriority - b.rulePriority)) {
    const selected = oldestFirst.filter(tagSelector(rule.selection));
    for (const image of expirable(rule, selected, now)) {
      if (!claimed.has(image.digest)) expiring.push({ ...image, rulePriority: rule.rulePriority });
    }
    for (const image of selected) claimed.add(image.digest);
  }
  return expiring;
}

/** Of the images a rule selects (oldest first), those its count condition marks, oldest first. */
function expirable<Image extends LifecycleImage>(rule: LifecycleRule, selectedOldestFirst: Image[], now: number): Image[] {
  const { countType, countNumber } = rule.selection;
  if (countType === 'imageCountMoreThan') {
    return selectedOldestFirst.slice(0, Math.max(0, selectedOldestFirst.length - countNumber));
  }
  // "older than the specified number of days": an image exactly countNumber days old is kept.
  const pushedBefore = now - countNumber * DAY_MS;
  return selectedOldestFirst.filter((image) => image.pushedAt < pushedBefore);
}

/** The tagging requirements of a selection, which are also what claims an image for the rule. */
function tagSelector(selection: LifecycleSelection): (image: LifecycleImage) => boolean {
  switch (selection.tagStatus) {
    case 'any':
      return () => true;
    case 'untagged':
      return (image) => image.tags.length === 0;
    case 'tagged': {
      // Several prefixes or patterns: the image needs a matching tag for each of them (ECR: "only the
      // images with all specified tags are selected"); one tag may satisfy several.
      const requirements = selection.tagPrefixList?.map(prefixMatcher) ?? selection.tagPatternList?.map(patternMatcher) ?? [];
      return (image) => image.tags.length > 0 && requirements.every((matches) => image.tags.some(matches));
    }
  }
}

function prefixMatcher(prefix: string): (tag: string) => boolean {
  return (tag) => tag.startsWith(prefix);
}

/**
 * A tagPatternList entry matches a whole tag; `*` stands for any run of characters, including none.
 * Matched piece by piece (leftmost fit of each literal between wildcards), which is linear in the tag
 * length, unlike a backtracking regular expression.
 */
function patternMatcher(pattern: string): (tag: string) => boolean {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return (tag) => tag === pattern;
  const head = pieces[0] ?? '';
  const tail = pieces[pieces.length - 1] ?? '';
  const middle = pieces.slice(1, -1);
  return (tag) => {
    if (tag.length < head.length + tail.length || !tag.startsWith(head) || !tag.endsWith(tail)) return false;
    const middleEnd = tag.length - tail.length;
    let from = head.length;
    for (const piece of middle) {
      const at = tag.indexOf(piece, from);
      if (at < 0 || at + piece.length > middleEnd) return false;
      from = at + piece.length;
    }
    return true;
  };
}

function uniqueByDigest<Image extends LifecycleImage>(images: readonly Image[]): Image[] {
  const byDigest = new Map<string, Image>();
  for (const image of images) if (!byDigest.has(image.digest)) byDigest.set(image.digest, image);
  return [...byDigest.values()];
}

function byPushTime(a: LifecycleImage, b: LifecycleImage): number {
  if (a.pushedAt !== b.pushedAt) return a.pushedAt - b.pushedAt;
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0;
}
