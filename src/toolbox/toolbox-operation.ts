import type { ECRClient } from '@aws-sdk/client-ecr';
import type { z } from 'zod';

/** A user name and password (or access token) for one registry host. */
export interface RegistryLogin {
  username: string;
  password: string;
}

/** Which ECR-compatible registry an operation talks to: Berth's (a workspace) by default, or Amazon ECR in a region. */
export interface EcrTarget {
  /** Berth's workspace whose registry is meant; ignored for Amazon ECR. */
  workspace?: string;
  region?: string;
}

/** What long operations report while they run; faces render it (a progress bar, MCP progress notifications) or drop it. */
export type ProgressEvent =
  | { kind: 'step'; message: string }
  | {
      kind: 'transfer';
      /** Stable while the transfer lasts, e.g. the blob's digest. */
      id: string;
      label: string;
      totalBytes: number;
      doneBytes: number;
      state: 'waiting' | 'copying' | 'skipped' | 'mounted' | 'done' | 'failed';
    };

export type ProgressSink = (event: ProgressEvent) => void;

/**
 * What a face gives an operation. The CLI and the MCP server run operations on the user's machine
 * (credentials from flags, docker's config.json, the AWS environment; files readable); the API runs
 * them in Berth as the calling user (Berth's credentials; no access to the server's files).
 */
export interface ToolboxContext {
  /** A login for a registry host (`ghcr.io`, `127.0.0.1:5000`), or undefined to go anonymous. */
  registryLogin(host: string): Promise<RegistryLogin | undefined>;
  /** A client for an ECR-compatible API: Berth's `/ecr` (as the caller) or Amazon ECR. */
  ecrClient(target: EcrTarget): ECRClient;
  progress: ProgressSink;
  /** Whether the operation may read and write files where it runs (CLI, MCP: yes; the API: no, it takes contents). */
  localFiles: boolean;
  signal?: AbortSignal;
}

/**
 * One toolbox operation, offered by every face under the same names with the same result: the
 * library function (`name`), the MCP tool (`mcpTool`, when MCP offers it) and `POST /api/toolbox/<apiPath>`.
 * `input` validates at the face and is the MCP tool's JSON schema.
 */
export interface ToolboxOperation<Input extends z.ZodObject = z.ZodObject, Output = unknown> {
  name: string;
  mcpTool?: string;
  apiPath: string;
  summary: string;
  input: Input;
  run(input: z.infer<Input>, context: ToolboxContext): Promise<Output>;
}

/** The toolbox's own failure codes; faces map them (HTTP status, MCP `isError`, CLI exit code 1). */
export type ToolboxErrorCode = 'INVALID_INPUT' | 'NOT_FOUND' | 'UNAUTHORIZED' | 'DENIED' | 'CONFLICT' | 'UNREACHABLE' | 'FAILED';

export class ToolboxError extends Error {
  constructor(
    readonly code: ToolboxErrorCode,
    message: string,
    /** Structured details a client may act on (the file and line of a parse error, the fix for a check). */
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ToolboxError';
  }
}

/**
 * The input with a face's defaults for the fields the caller left out and the operation takes: e.g. `workspace`,
 * which the API takes from `?workspace=` and the CLI and MCP server from `--workspace`.
 */
export function withFaceDefaults<Input extends Record<string, unknown>>(operation: ToolboxOperation, input: Input, defaults: Record<string, unknown>): Input {
  const filled: Record<string, unknown> = { ...input };
  for (const [key, value] of Object.entries(defaults)) {
    if (value !== undefined && filled[key] === undefined && key in operation.input.shape) filled[key] = value;
  }
  return filled as Input;
}
