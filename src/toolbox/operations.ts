import { cloneOperations } from './clone/clone-operations.ts';
import { doctorOperations } from './doctor/doctor-operations.ts';
import { ecrOperations } from './ecr/ecr-operations.ts';
import { mapOperations } from './map/map-operations.ts';
import type { ToolboxOperation } from './toolbox-operation.ts';

/** Every toolbox operation, for the faces that offer them all (the API, the MCP server). */
export const toolboxOperations: readonly ToolboxOperation[] = [...cloneOperations, ...mapOperations, ...ecrOperations, ...doctorOperations];
