import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../../config/load.ts';
import { templateSettingsSchema, type StudiosConfig, type TemplateSettings, type templateStatuses } from '../../config/schema.ts';
import type { Workspace } from '../../identity/identity-store.ts';
import { builtInTemplates } from './built-in-templates.ts';

export type TemplateStatus = (typeof templateStatuses)[number];

/** The tool of templates that say none, and of images no template knows. */
export const customTool = 'custom';

/** One image of a template: a version tag of its repository. */
export interface TemplateVersion {
  /** `<tool_version>-<agent_version>`, or the tag of a repository configured with one. */
  version: string;
  /** The image to run: `<repository>:<version>`. */
  image: string;
  status: TemplateStatus;
}

/** A template after built-ins, the templates file and the configuration were merged. */
export interface StudioTemplate {
  key: string;
  name: string;
  repository: string;
  tool: string;
  /** The port the tool listens on when it cannot be told $CONNECT_TOOL_PORT; null when unknown. */
  port: number | null;
  icon: string;
  /** What the local runner starts ({port} and {prefix} filled in); null: the template runs in containers only. */
  hostCommand: string[] | null;
  builtIn: boolean;
  /** Newest first. */
  versions: TemplateVersion[];
}

/** A template image as the API lists it (one per version). */
export interface TemplateView {
  repository: string;
  icon: string;
  status: TemplateStatus;
  tool: string;
}

/** What a studio's template key or image stands for. */
export interface ResolvedTemplate {
  template: StudioTemplate;
  /** The image to run: the named one, or the newest version of the template a key names. */
  image: string;
  view: TemplateView;
}

/** Templates by key from one source, and how to name that source in errors. */
export interface TemplateLayer {
  source: string;
  templates: Record<string, TemplateSettings>;
}

const templatesFileSchema = z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'template keys are lower-case letters, digits and -'), templateSettingsSchema);

/**
 * The studio templates: the built-in four (jupyter, vscode, rstudio, xpra) changed by `studios.templatesFile`,
 * then by `studios.templates` (the config file and BERTH_STUDIO_TEMPLATES_<KEY>_<FIELD>), field by field. A key
 * none of those know makes a custom template. Each version is an image; the newest is `recommended` and the
 * older ones `deprecated` unless a status is configured, which then holds for all its versions.
 */
export class TemplateCatalog {
  private readonly templates: StudioTemplate[];

  constructor(layers: TemplateLayer[]) {
    this.templates = mergeTemplates(layers);
  }

  /** The catalog of a configuration: reads `templatesFile` when one is set. Bad input is a ConfigError naming file and field. */
  static async load(config: Pick<StudiosConfig, 'templates' | 'templatesFile'>): Promise<TemplateCatalog> {
    const layers: TemplateLayer[] = [];
    if (config.templatesFile) layers.push({ source: `templates file ${config.templatesFile}`, templates: await readTemplatesFile(config.templatesFile) });
    layers.push({ source: 'studios.templates', templates: config.templates });
    return new TemplateCatalog(layers);
  }

  all(): readonly StudioTemplate[] {
    return this.templates;
  }

  get(key: string): StudioTemplate | undefined {
    return this.templates.find((template) => template.key === key);
  }

  /**
   * One entry per template image, templates in catalog order and each one's newest version first. Every
   * workspace sees the same catalog today; the workspace is asked for so that the API needs no change when
   * workspaces get templates of their own.
   */
  listFor(_workspace: Pick<Workspace, 'id' | 'slug'>): TemplateView[] {
    return this.templates.flatMap((template) => template.versions.map((version) => viewOf(template, version.image, version.status)));
  }

  /** The template a key or an image (a template repository with a tag) stands for; undefined for any other image. */
  find(imageOrKey: string): ResolvedTemplate | undefined {
    const byKey = this.get(imageOrKey);
    if (byKey) {
      const newest = byKey.versions[0]!;
      return { template: byKey, image: newest.image, view: viewOf(byKey, newest.image, newest.status) };
    }
    const reference = splitReference(imageOrKey);
    for (const template of this.templates) {
      const version = template.versions.find((v) => v.image === imageOrKey);
      if (version) return { template, image: imageOrKey, view: viewOf(template, imageOrKey, version.status) };
      // A tag or digest of the repository the catalog does not list: the tool is known, its image is not vouched for.
      if (reference.repository === template.repository) return { template, image: imageOrKey, view: viewOf(template, imageOrKey, 'unsupported') };
    }
    return undefined;
  }

  /** As `find`, but an image no template knows is a custom template: tool `custom`, no host command. */
  resolve(imageOrKey: string): ResolvedTemplate {
    const found = this.find(imageOrKey);
    if (found) return found;
    const template: StudioTemplate = {
      key: customTool,
      name: 'Custom image',
      repository: splitReference(imageOrKey).repository,
      tool: customTool,
      port: null,
      icon: customTool,
      hostCommand: null,
      builtIn: false,
      versions: [],
    };
    return { template, image: imageOrKey, view: viewOf(template, imageOrKey, 'unsupported') };
  }
}

/** A templates file (YAML or JSON): a mapping of template key → settings, as `studios.templates`. */
export async function readTemplatesFile(path: string): Promise<Record<string, TemplateSettings>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read templates file ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text); // JSON is YAML too
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` line ${error.linePos[0].line}` : '';
    throw new ConfigError(`templates file ${path}${where}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (value == null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`templates file ${path}: the top level must be a mapping of template keys`);
  const parsed = templatesFileSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const unknownField = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
    const field = [...issue.path, ...(unknownField === undefined ? [] : [unknownField])].join('.') || '(top level)';
    // A bad key's own message (which characters keys take) is nested in the record's issue.
    const keyMessage = issue.code === 'invalid_key' ? issue.issues[0]?.message : undefined;
    const message = unknownField === undefined ? (keyMessage ?? issue.message) : `unknown field (known: ${Object.keys(templateSettingsSchema.shape).join(', ')})`;
    throw new ConfigError(`templates file ${path}: ${field}: ${message}`);
  }
  return parsed.data;
}

/** Built-ins first (in their order), then new keys in the order the layers introduce them. */
function mergeTemplates(layers: TemplateLayer[]): StudioTemplate[] {
  const merged = new Map<string, { settings: TemplateSettings & { name?: string }; builtIn: boolean; source: string }>();
  for (const { key, ...settings } of builtInTemplates) merged.set(key, { settings, builtIn: true, source: 'built-in' });
  for (const layer of layers) {
    for (const [key, settings] of Object.entries(layer.templates)) {
      const current = merged.get(key);
      const changes = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as TemplateSettings;
      merged.set(key, { settings: { ...current?.settings, ...changes }, builtIn: current?.builtIn ?? false, source: current?.source ?? layer.source });
    }
  }
  return [...merged].map(([key, entry]) => completeTemplate(key, entry.settings, entry.builtIn, entry.source));
}

function completeTemplate(key: string, settings: TemplateSettings & { name?: string }, builtIn: boolean, source: string): StudioTemplate {
  const where = `${source}: template ${key}`;
  if (!settings.repository) throw new ConfigError(`${where}: a new template needs a repository (studios.templates.${key}.repository or BERTH_STUDIO_TEMPLATES_${envKey(key)}_REPOSITORY)`);
  if (builtIn && settings.tool === customTool) throw new ConfigError(`${where}: the built-in template's tool cannot be "${customTool}"; name the tool (e.g. ${key})`);
  const reference = splitReference(settings.repository);
  // A repository given with a tag (or digest) pins the template to that one image.
  const pinned = reference.tag ?? reference.digest;
  const tags = pinned ? [pinned] : settings.versions?.length ? settings.versions : ['latest'];
  const newestFirst = pinned ? tags : [...new Set(tags)].sort(compareVersions).reverse();
  const versions = newestFirst.map((version, index) => ({
    version,
    image: pinned ? settings.repository! : `${settings.repository}:${version}`,
    status: settings.status ?? (index === 0 ? 'recommended' : 'deprecated'),
  }));
  return {
    key,
    name: settings.name ?? key,
    repository: pinned ? reference.repository : settings.repository,
    tool: settings.tool ?? customTool,
    port: settings.port ?? null,
    icon: settings.icon ?? customTool,
    hostCommand: settings.hostCommand ?? null,
    builtIn,
    versions,
  };
}

function viewOf(template: StudioTemplate, image: string, status: TemplateStatus): TemplateView {
  return { repository: image, icon: template.icon, status, tool: template.tool };
}

/** `my-tool` → `MY_TOOL`, as in BERTH_STUDIO_TEMPLATES_MY_TOOL_REPOSITORY. */
function envKey(key: string): string {
  return key.toUpperCase().replaceAll('-', '_');
}

/** `host:5000/a/b:tag@sha256:…` → repository `host:5000/a/b`, tag, digest (a registry port is not a tag). */
export function splitReference(image: string): { repository: string; tag: string | null; digest: string | null } {
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : null;
  const named = at >= 0 ? image.slice(0, at) : image;
  const colon = named.lastIndexOf(':');
  const hasTag = colon > named.lastIndexOf('/');
  return { repository: hasTag ? named.slice(0, colon) : named, tag: hasTag ? named.slice(colon + 1) : null, digest };
}

/**
 * Orders `<tool_version>-<agent_version>` tags: tool versions first, then agent versions, each compared
 * part by part (numbers as numbers, so 4.10 is newer than 4.9).
 */
export function compareVersions(a: string, b: string): number {
  const [toolA = '', agentA = ''] = a.split('-', 2);
  const [toolB = '', agentB = ''] = b.split('-', 2);
  return compareDotted(toolA, toolB) || compareDotted(agentA, agentB);
}

function compareDotted(a: string, b: string): number {
  const partsA = a.split(/[._]/);
  const partsB = b.split(/[._]/);
  for (let i = 0; i < Math.max(partsA.length, partsB.length); i++) {
    const x = partsA[i];
    const y = partsB[i];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    const numeric = /^\d+$/.test(x) && /^\d+$/.test(y);
    const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
    if (order !== 0) return Math.sign(order);
  }
  return 0;
}
