import { z } from 'zod';

/**
 * Berth's whole configuration: one schema, each field with its default, unit and meaning.
 * Unknown keys are rejected (`.strict()`), so a typo stops the server at start instead of
 * being silently ignored.
 */
const port = z.number().int().min(0).max(65535);

export const serverSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1').describe('address the one listener binds to'),
    port: port.default(8080).describe('TCP port of the one listener; 0 picks a free port'),
    publicUrl: z
      .string()
      .url()
      .optional()
      .describe('URL clients use to reach Berth (token realm, Location headers); default: from the request Host'),
  })
  .strict();

export const databaseSchema = z
  .object({
    url: z
      .string()
      .optional()
      .describe('postgres://… selects PostgreSQL; unset uses SQLite at <dataDir>/berth.sqlite'),
  })
  .strict();

export const registrySchema = z
  .object({
    service: z.string().min(1).default('berth').describe('service name in token challenges and the JWT audience'),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must look like an AWS region, e.g. eu-west-2')
      .default('eu-west-2')
      .describe('the region in repository ARNs (policies, API-token callers of the ECR API)'),
    tokenTtlS: z.number().int().min(30).max(86_400).default(900).describe('lifetime of registry bearer tokens, seconds'),
    refreshTokenTtlS: z
      .number()
      .int()
      .min(60)
      .default(30 * 86_400)
      .describe('lifetime of refresh (identity) tokens given to docker login, seconds'),
    maxManifestBytes: z
      .number()
      .int()
      .min(1024)
      .default(4 * 1024 * 1024)
      .describe('largest manifest accepted, bytes'),
    uploadExpiryS: z
      .number()
      .int()
      .min(60)
      .default(86_400)
      .describe('an upload untouched this long is stale and removed, seconds'),
    gcGraceS: z
      .number()
      .int()
      .min(0)
      .default(3_600)
      .describe('garbage collection spares blobs written or linked within this window, seconds'),
    ecrLoginTtlS: z
      .number()
      .int()
      .min(60)
      .default(12 * 3_600)
      .describe('validity of GetAuthorizationToken passwords, seconds (12 h, as Amazon ECR)'),
    pullThroughRevalidateS: z
      .number()
      .int()
      .min(0)
      .default(86_400)
      .describe('a cached tag is re-checked with its upstream at most this often, seconds (24 h, as ECR)'),
    lifecycleIntervalS: z
      .number()
      .int()
      .min(0)
      .default(3_600)
      .describe('how often lifecycle policies are applied, seconds; 0 = only on demand (berth registry lifecycle run)'),
    maintenanceIntervalS: z
      .number()
      .int()
      .min(0)
      .default(3_600)
      .describe('how often stale uploads are swept, seconds; 0 = only at start'),
  })
  .strict();

export const authSchema = z
  .object({
    secretKey: z
      .string()
      .min(16, 'must be at least 16 characters')
      .optional()
      .describe('key that seals stored secrets (access keys, credentials); default: a key file in the data directory'),
    webLoginTtlS: z
      .number()
      .int()
      .min(60)
      .default(12 * 3_600)
      .describe('how long a browser stays logged in after the login page, seconds'),
    adminToken: z
      .string()
      .min(20, 'must be at least 20 characters')
      .optional()
      .describe('API token of the user admin on first start; generated when unset'),
  })
  .strict();

const kilobytes = (n: number) => n * 1024;

export const builderSchema = z
  .object({
    executor: z
      .enum(['auto', 'buildah', 'docker'])
      .default('auto')
      .describe('what runs builds: auto = buildah where it is installed, else docker'),
    dockerSocket: z.string().min(1).default('/var/run/docker.sock').describe('Docker Engine API socket of the docker executor'),
    concurrency: z.number().int().min(1).max(64).default(2).describe('builds that run at once; more wait as pending'),
    timeoutS: z.number().int().min(10).default(900).describe('a build running longer is stopped and failed, seconds'),
    failedRetryS: z
      .number()
      .int()
      .min(0)
      .default(60)
      .describe('a failed build answers identical requests this long before one may try again, seconds'),
    defaultPlatform: z.string().regex(/^[a-z0-9_]+\/[a-z0-9_]+(\/[a-z0-9_]+)?$/).default('linux/amd64').describe('platform of requests that name none'),
    maxDockerfileBytes: z.number().int().min(1).default(kilobytes(10)).describe('largest Dockerfile (containerFile), bytes'),
    maxCondaFileBytes: z.number().int().min(1).default(kilobytes(50)).describe('largest conda environment file, bytes'),
    maxContextBytes: z.number().int().min(1).default(10 * 1024 * 1024).describe('largest build context, all files together, bytes'),
    maxContextFileBytes: z.number().int().min(1).default(5 * 1024 * 1024).describe('largest single file of a build context, bytes'),
    logTailLines: z.number().int().min(5).max(1000).default(40).describe('lines of output kept in a failed build\'s error report'),
  })
  .strict();

export const connectSchema = z
  .object({
    studioDomain: z
      .string()
      .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'must be a DNS name, e.g. studios.example.org')
      .default('localhost')
      .describe('sessions are reached at <sessionId>.<studioDomain> (needs wildcard DNS; *.localhost resolves to loopback)'),
    pathRouting: z
      .boolean()
      .default(false)
      .describe('reach sessions at <host>/_studio/<sessionId>/ instead of their own host name'),
    routeStore: z
      .enum(['memory', 'redis'])
      .default('memory')
      .describe('where servers record which of them holds which tunnel: memory (one server) or redis (replicas)'),
    redisUrl: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL').optional().describe('Redis of the redis route store'),
    advertiseUrl: z
      .string()
      .url()
      .optional()
      .describe('URL other replicas use to reach this server; default: its loopback address and port'),
    studioTokenTtlS: z
      .number()
      .int()
      .min(60)
      .max(86_400)
      .default(3_600)
      .describe('lifetime of the cookie that opens one studio, seconds; renewed while in use'),
    pingIntervalS: z.number().int().min(1).max(300).default(15).describe('tunnel keep-alive ping period, seconds'),
    startWaitS: z
      .number()
      .int()
      .min(0)
      .max(300)
      .default(20)
      .describe('how long a GET or HEAD for a starting session waits for its tool before the "starting" page answers it, seconds (0: at once)'),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.routeStore === 'redis' && !value.redisUrl) {
      ctx.addIssue({ code: 'custom', path: ['redisUrl'], message: 'is required when routeStore is redis' });
    }
  });

export const templateStatuses = ['recommended', 'deprecated', 'experimental', 'unsupported'] as const;

/** One template's settings as a file or BERTH_STUDIO_TEMPLATES_<KEY>_<FIELD> gives them; unset fields keep the built-in value. */
export const templateSettingsSchema = z
  .object({
    repository: z.string().min(1).max(512).optional().describe('image repository of the template (without a tag)'),
    tool: z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/).optional().describe('the tool: jupyter, vscode, rstudio, xpra or your own'),
    port: port.optional().describe('port the tool listens on when it cannot be told $CONNECT_TOOL_PORT'),
    status: z.enum(templateStatuses).optional().describe('recommended, deprecated, experimental or unsupported'),
    icon: z.string().min(1).max(2048).optional().describe('icon URL or name'),
    versions: z.array(z.string().regex(/^[A-Za-z0-9._]+-[A-Za-z0-9._]+$/, 'must be <tool_version>-<agent_version>')).optional().describe('image tags, newest last'),
    hostCommand: z.array(z.string()).min(1).optional().describe('command the local runner starts on the Berth host; {port} and {prefix} are filled in'),
  })
  .strict();

export const studiosSchema = z
  .object({
    allowedWorkspaces: z
      .array(z.string().min(1))
      .nullable()
      .default([])
      .describe('workspaces (slugs or ids) that may use Studios: [] none (the default), null all'),
    templates: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'template keys are lower-case letters, digits and -'), templateSettingsSchema).default({}).describe('templates added or changed by key (jupyter, vscode, rstudio, xpra or new ones)'),
    templatesFile: z.string().min(1).optional().describe('YAML or JSON file of studio templates that adds to or replaces the built-in ones'),
    defaultLifespanHours: z.number().min(0).max(8_760).default(8).describe('a session stops itself after this long unless its studio or workspace says otherwise; 0 = never'),
    idleStopMinutes: z.number().min(0).default(0).describe('stop a running session after this many minutes without traffic through the proxy; 0 = never'),
    forceStopAfterS: z.number().int().min(1).default(120).describe('a session still stopping after this long is killed, seconds'),
    startTimeoutS: z.number().int().min(5).default(600).describe('a session not running this long after its compute was started is errored, seconds'),
    reconcileIntervalS: z.number().min(0.1).max(300).default(5).describe('how often sessions are checked against their runners, seconds'),
    computeCheckIntervalS: z.number().int().min(0).default(300).describe('how often compute environments are re-checked, seconds; 0 = only on create'),
    gracePeriodS: z.number().int().min(0).max(3_600).default(30).describe('time a tool gets between SIGTERM and SIGKILL, seconds'),
  })
  .strict();

export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('berth-data').describe('directory for the database, blobs and keys'),
    server: serverSchema.default(() => serverSchema.parse({})),
    database: databaseSchema.default(() => databaseSchema.parse({})),
    registry: registrySchema.default(() => registrySchema.parse({})),
    auth: authSchema.default(() => authSchema.parse({})),
    builder: builderSchema.default(() => builderSchema.parse({})),
    connect: connectSchema.default(() => connectSchema.parse({})),
    studios: studiosSchema.default(() => studiosSchema.parse({})),
  })
  .strict();

export type BerthConfig = z.infer<typeof configSchema>;
export type ServerConfig = z.infer<typeof serverSchema>;
export type DatabaseConfig = z.infer<typeof databaseSchema>;
export type RegistryConfig = z.infer<typeof registrySchema>;
export type AuthConfig = z.infer<typeof authSchema>;
export type BuilderConfig = z.infer<typeof builderSchema>;
export type ConnectConfig = z.infer<typeof connectSchema>;
export type StudiosConfig = z.infer<typeof studiosSchema>;
export type TemplateSettings = z.infer<typeof templateSettingsSchema>;

/** Environment variables the server reads, and the config path each one sets. */
export const serverEnvironment = {
  BERTH_CONFIG: null, // path of the config file itself, handled by the loader
  BERTH_DATA_DIR: ['dataDir'],
  BERTH_HOST: ['server', 'host'],
  BERTH_PORT: ['server', 'port'],
  BERTH_PUBLIC_URL: ['server', 'publicUrl'],
  BERTH_DATABASE_URL: ['database', 'url'],
  BERTH_ADMIN_TOKEN: ['auth', 'adminToken'],
  BERTH_SECRET_KEY: ['auth', 'secretKey'],
  BERTH_REGISTRY_SERVICE: ['registry', 'service'],
  BERTH_REGISTRY_TOKEN_TTL_S: ['registry', 'tokenTtlS'],
  BERTH_REGISTRY_GC_GRACE_S: ['registry', 'gcGraceS'],
  BERTH_BUILDER_EXECUTOR: ['builder', 'executor'],
  BERTH_BUILDER_DOCKER_SOCKET: ['builder', 'dockerSocket'],
  BERTH_BUILDER_CONCURRENCY: ['builder', 'concurrency'],
  BERTH_BUILDER_TIMEOUT_S: ['builder', 'timeoutS'],
  BERTH_STUDIO_DOMAIN: ['connect', 'studioDomain'],
  BERTH_STUDIO_PATH_ROUTING: ['connect', 'pathRouting'],
  BERTH_CONNECT_ROUTE_STORE: ['connect', 'routeStore'],
  BERTH_REDIS_URL: ['connect', 'redisUrl'],
  BERTH_CONNECT_ADVERTISE_URL: ['connect', 'advertiseUrl'],
  BERTH_CONNECT_START_WAIT_S: ['connect', 'startWaitS'],
  BERTH_STUDIOS_TEMPLATES_FILE: ['studios', 'templatesFile'],
  BERTH_STUDIOS_IDLE_STOP_MINUTES: ['studios', 'idleStopMinutes'],
} as const satisfies Record<string, readonly string[] | null>;

/** Variables that belong to Berth's clients (the CLI, the session agent), not the server: known, so not rejected. */
export const clientEnvironment = ['BERTH_URL', 'BERTH_TOKEN', 'BERTH_CONNECT_URL', 'BERTH_SESSION_ID', 'BERTH_SESSION_TOKEN'] as const;
