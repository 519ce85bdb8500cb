import { isMap, isPair, isScalar, parseAllDocuments, visit, type Node, type Scalar, type YAMLMap } from 'yaml';
import { ScanCollector, type WorkflowFile, type WorkflowScanner } from './scan-results.ts';

/**
 * CWL (YAML or JSON, which YAML reads too): `DockerRequirement.dockerPull` in `requirements` or `hints`, in the map
 * form (`DockerRequirement: {dockerPull: …}`) and the list form (`- class: DockerRequirement`), anywhere in the
 * document (inline `run:` tools and packed `$graph`s included).
 */
export const cwlScanner: WorkflowScanner = {
  language: 'cwl',
  // .cwl always; JSON and YAML files only when they are CWL documents.
  matches: (path) => /\.(cwl|json|ya?ml)$/i.test(path),
  scan(files) {
    const collector = new ScanCollector('cwl');
    for (const file of files) {
      if (!/\.cwl$/i.test(file.path) && !file.content.includes('cwlVersion')) continue;
      scanFile(file, collector);
    }
    return collector.result;
  },
};

function scanFile(file: WorkflowFile, collector: ScanCollector): void {
  const documents = parseAllDocuments(file.content, { prettyErrors: false, uniqueKeys: false });
  const list = Array.isArray(documents) ? documents : [];
  for (const document of list) {
    const error = document.errors[0];
    if (error) {
      collector.problem(file, error.pos[0], `cannot read this CWL file: ${error.message.split('\n')[0]}`);
      continue;
    }
    visit(document, {
      Map(_key, node) {
        if (isScalar(node.get('class', true)) && (node.get('class', true) as Scalar).value === 'DockerRequirement') dockerRequirement(file, node, collector);
      },
      Pair(_key, pair) {
        if (isScalar(pair.key) && pair.key.value === 'DockerRequirement' && isMap(pair.value)) dockerRequirement(file, pair.value, collector);
      },
    });
  }
}

function dockerRequirement(file: WorkflowFile, requirement: YAMLMap, collector: ScanCollector): void {
  const pull = requirement.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === 'dockerPull');
  if (!pull) return; // dockerLoad / dockerFile / dockerImageId only: nothing to pull from a registry
  const value = pull.value as Node | null;
  const offset = value?.range?.[0] ?? (pull.key as Node).range?.[0] ?? 0;
  if (!isScalar(value) || typeof value.value !== 'string') {
    collector.problem(file, offset, 'dockerPull is not a string');
    return;
  }
  collector.container({ at: { file, offset, end: value.range?.[1] ?? offset }, text: value.value, ...literalOf(file, value) });
}

/** Where the scalar's text is written verbatim: plain and quoted scalars without escapes; not block scalars. */
function literalOf(file: WorkflowFile, scalar: Scalar): { literal?: { file: WorkflowFile; start: number } } {
  const range = scalar.range;
  if (!range) return {};
  const quoted = scalar.type === 'QUOTE_DOUBLE' || scalar.type === 'QUOTE_SINGLE';
  if (!quoted && scalar.type !== 'PLAIN') return {};
  const start = range[0] + (quoted ? 1 : 0);
  const end = range[1] - (quoted ? 1 : 0);
  return file.content.slice(start, end) === scalar.value ? { literal: { file, start } } : {};
}
