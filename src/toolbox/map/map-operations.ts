import type { ToolboxOperation } from '../toolbox-operation.ts';
import { generateRegistryMap, registryMapInput, type RegistryMapResult } from './registry-map.ts';

export const generateRegistryMapOperation: ToolboxOperation<typeof registryMapInput, RegistryMapResult> = {
  name: 'generateRegistryMap',
  mcpTool: 'GenerateContainerRegistryMap',
  apiPath: 'map',
  summary:
    'Find every container image a workflow uses (Nextflow, WDL, CWL, Snakemake, Dockerfile FROM), map each to its pull-through or cloned location on a mirror registry, as a flat {"source": "target"} map or an AWS HealthOmics container registry map; optionally rewrite the files to name the mirror.',
  input: registryMapInput,
  run: (input, context) => generateRegistryMap(input, context),
};

/** The map slice's operations, for the faces (API, MCP). */
export const mapOperations: readonly ToolboxOperation[] = [generateRegistryMapOperation];
