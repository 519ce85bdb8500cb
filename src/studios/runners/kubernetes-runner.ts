/**
 * The `kubernetes` runner: one pod per session through the Kubernetes API (@kubernetes/client-node).
 *
 * The pod `berth-session-<session>` runs the session's image as it is in its container `tool`, and the
 * agent (`berth agent --sidecar`, from the configured agent image) beside it in the container `agent`.
 * The containers of a pod share one network namespace, so the agent reaches the tool on
 * localhost:$CONNECT_TOOL_PORT. The agent is a native sidecar (an init container with `restartPolicy:
 * Always`, Kubernetes 1.29+): it starts before the tool, is stopped after it, and does not keep the pod
 * alive once the tool has exited, so the pod's phase says what became of the tool. `/workspace` is a
 * PersistentVolumeClaim (`berth-ws-<workspaceVolume>`) that outlives the pod.
 *
 * The client library is loaded on first use: it costs about a second and 50 MB, which a Berth without a
 * Kubernetes compute environment should not pay.
 */
import { createHash } from 'node:crypto';
import type { CoreV1Api, RequestContext, V1Container, V1EnvVar, V1PersistentVolumeClaim, V1Pod, V1Secret, VersionApi } from '@kubernetes/client-node';
import { splitRegistryHost } from '../../registry/names.ts';
import { RunnerError, type LabelledSession, type Runner, type RunnerCheck, type SessionLaunch, type SessionObservation } from './runner.ts';

export interface KubernetesRunnerOptions {
  /** The API server, e.g. `https://k8s.example.org:6443`. */
  server: string;
  /** A bearer token (a service account's) that may manage pods, PVCs and secrets in `namespace`. */
  token?: string;
  /** The API server's CA certificate: PEM, or base64 of the PEM (a kubeconfig's certificate-authority-data). */
  caCert?: string;
  /** Do not verify the API server's certificate (and allow plain http://): test clusters only. */
  insecure?: boolean;
  /** Where session pods, workspace claims and pull secrets live. */
  namespace: string;
  /** An image with the Berth agent on its PATH as `berth`; it runs `berth agent --sidecar` beside the tool. */
  agentImage: string;
  /** The storage class of new workspace claims (the cluster's default when unset). */
  storageClass?: string;
  /** The size new workspace claims request (default `10Gi`). */
  workspaceSize?: string;
}

/** The label `list()` selects on, on everything this runner creates. */
const managedByLabel = 'app.kubernetes.io/managed-by';
const managedByBerth = 'berth';
const sessionLabel = 'berth.session';
const toolContainerName = 'tool';
const agentContainerName = 'agent';
const workspaceVolumeName = 'workspace';
/** A pod has its own network namespace: any fixed port will do when the launch names none. */
const defaultToolPort = '8080';
/** Every API call gives up after this long; a black-holed API server must not hang a session. */
const requestTimeoutMs = 30_000;
/** stop() waits this long beyond the grace period for the kubelet to confirm that the pod is gone. */
const deletionMarginS = 30;
/** `logs()` returns the end of each container's output, like a terminal's scrollback. */
const logTailLines = 10_000;
const agentLogHeading = '--- berth agent (sidecar) ---\n';
/**
 * The agent only relays the tool's traffic: a small fixed budget, with limits so that namespaces whose
 * ResourceQuota demands them accept the pod.
 */
const agentResources = { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } };
/** Native sidecar containers are on by default from Kubernetes 1.29. */
const minimumVersion = { major: 1, minor: 29 };
/** Reasons a container waits that the kubelet does not get over by itself. */
const stuckWaitingReasons = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull', 'CreateContainerConfigError']);
/** Docker Hub's key in a docker config, for images named without a registry host. */
const dockerHubAuthKey = 'https://index.docker.io/v1/';

type KubernetesClient = typeof import('@kubernetes/client-node');

interface KubernetesApis {
  core: CoreV1Api;
  version: VersionApi;
  isApiException(error: unknown): error is { code: number; body: unknown; message: string };
}

/** What one API call came to: its value, or the status the API server refused it with. */
type Answer<T> = { ok: true; value: T } | { ok: false; code: number; message: string };

interface PodAddress {
  namespace: string;
  name: string;
}

export class KubernetesRunner implements Runner {
  readonly platform = 'kubernetes' as const;
  private apisLoading: Promise<KubernetesApis> | undefined;

  constructor(private readonly options: KubernetesRunnerOptions) {}

  async check(): Promise<RunnerCheck> {
    try {
      const version = await this.answer(({ version }) => version.getCode());
      if (!version.ok) return { available: false, reason: this.refusal(version) };
      const tooOld = versionTooOld(version.value.major, version.value.minor, version.value.gitVersion);
      if (tooOld) return { available: false, reason: tooOld };
      // /version is public on most clusters: listing pods proves the credentials and the namespace.
      const namespace = this.options.namespace;
      const listed = await this.answer(({ core }) => core.listNamespacedPod({ namespace, labelSelector: `${managedByLabel}=${managedByBerth}`, limit: 1 }));
      if (!listed.ok) return { available: false, reason: this.refusal(listed, `listing pods in namespace ${namespace}`) };
      return { available: true };
    } catch (error) {
      if (error instanceof RunnerError) return { available: false, reason: error.message };
      throw error;
    }
  }

  async start(launch: SessionLaunch, progress: (message: string) => void): Promise<string> {
    const image = launch.image;
    if (image === null) throw new RunnerError('START_FAILED', 'the kubernetes runner needs an image to run (this session has only a host command)');
    const namespace = this.options.namespace;
    const names = sessionObjectNames(launch.sessionId);
    const claimName = workspaceClaimName(launch.workspaceVolume);
    const pod = this.podSpec(launch, image, names.pod, claimName, launch.pullCredentials ? names.pullSecret : undefined);
    await this.ensureWorkspaceClaim(claimName, launch, progress);
    const pullSecret = launch.pullCredentials ? await this.writePullSecret(names.pullSecret, image, launch.pullCredentials, launch) : undefined;
    progress(`Creating pod ${names.pod} in namespace ${namespace}`);
    try {
      await this.createPod(pod);
    } catch (error) {
      // A secret this start replaced may belong to a pod of the session that still runs: only a new one goes.
      if (pullSecret?.created) await this.deleteSecret({ namespace, name: pullSecret.name }).catch(() => undefined);
      throw error;
    }
    return `${namespace}/${names.pod}`;
  }

  async observe(handle: string): Promise<SessionObservation> {
    const pod = parseHandle(handle);
    if (!pod) return { state: 'missing', reason: `${JSON.stringify(handle.slice(0, 80))} is not a Kubernetes session handle (namespace/pod)` };
    const read = await this.readPod(pod);
    if (!read) return { state: 'missing', reason: `pod ${pod.name} no longer exists in namespace ${pod.namespace}` };
    return observationOf(read);
  }

  async stop(handle: string, gracePeriodS: number): Promise<void> {
    const pod = parseHandle(handle);
    if (!pod) return;
    // The kubelet sends SIGTERM to the tool, SIGKILLs it after the grace period, then stops the sidecar.
    // A grace period of 0 would be a forced deletion, which removes the pod object without waiting for
    // the kubelet: the containers could outlive it. One second is the shortest confirmed kill.
    const graceS = Math.max(1, Math.ceil(gracePeriodS));
    const deleted = await this.answer(({ core }) => core.deleteNamespacedPod({ ...pod, gracePeriodSeconds: graceS }));
    if (!deleted.ok) {
      if (deleted.code === 404) return;
      throw this.failure(deleted, `could not stop pod ${pod.name}`, 'UNAVAILABLE');
    }
    await this.waitUntilGone(pod, deleted.value.metadata?.uid, graceS + deletionMarginS);
  }

  async remove(handle: string): Promise<void> {
    const pod = parseHandle(handle);
    if (!pod) return;
    // Normally stop() has deleted the pod already; this frees one that exited on its own, without waiting.
    const deleted = await this.answer(({ core }) => core.deleteNamespacedPod({ ...pod, gracePeriodSeconds: 1 }));
    if (!deleted.ok && deleted.code !== 404) throw this.failure(deleted, `could not delete pod ${pod.name}`, 'UNAVAILABLE');
    const pullSecret = pullSecretOfPod(pod.name);
    if (pullSecret) await this.deleteSecret({ namespace: pod.namespace, name: pullSecret });
  }

  async removeWorkspace(workspaceVolume: string): Promise<void> {
    const name = workspaceClaimName(workspaceVolume);
    // The cluster keeps a claim that a pod still mounts until that pod is gone (kubernetes.io/pvc-protection).
    const deleted = await this.answer(({ core }) => core.deleteNamespacedPersistentVolumeClaim({ namespace: this.options.namespace, name }));
    if (!deleted.ok && deleted.code !== 404) throw this.failure(deleted, `could not delete the workspace volume claim ${name}`, 'UNAVAILABLE');
  }

  /** The tool's output, then the agent's (why a tunnel does not come up is in the agent's). */
  async logs(handle: string): Promise<string> {
    const pod = parseHandle(handle);
    if (!pod) throw new RunnerError('NOT_FOUND', `${JSON.stringify(handle.slice(0, 80))} is not a Kubernetes session handle (namespace/pod)`);
    const tool = await this.containerLog(pod, toolContainerName);
    if (tool === undefined) throw new RunnerError('NOT_FOUND', `pod ${pod.name} no longer exists: its output is gone`);
    const agent = await this.containerLog(pod, agentContainerName).catch(() => undefined);
    return agent ? `${tool}${tool && !tool.endsWith('\n') ? '\n' : ''}${agentLogHeading}${agent}` : tool;
  }

  async list(): Promise<LabelledSession[]> {
    const namespace = this.options.namespace;
    const listed = await this.answer(({ core }) => core.listNamespacedPod({ namespace, labelSelector: `${managedByLabel}=${managedByBerth}` }));
    if (!listed.ok) throw this.failure(listed, `could not list the pods in namespace ${namespace}`, 'UNAVAILABLE');
    return listed.value.items.flatMap((pod) => {
      const sessionId = pod.metadata?.labels?.[sessionLabel];
      const name = pod.metadata?.name;
      return sessionId && name ? [{ handle: `${pod.metadata?.namespace ?? namespace}/${name}`, sessionId }] : [];
    });
  }

  private async ensureWorkspaceClaim(name: string, launch: SessionLaunch, progress: (message: string) => void): Promise<void> {
    const { storageClass, workspaceSize = '10Gi' } = this.options;
    const claim: V1PersistentVolumeClaim = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name, labels: { [managedByLabel]: managedByBerth, ...workspaceLabel(launch) } },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: workspaceSize } },
        ...(storageClass ? { storageClassName: storageClass } : {}),
      },
    };
    const created = await this.answer(({ core }) => core.createNamespacedPersistentVolumeClaim({ namespace: this.options.namespace, body: claim }));
    // 409: the claim of an earlier run of this workspace, kept with its files.
    if (created.ok) progress(`Created workspace volume claim ${name} (${workspaceSize})`);
    else if (created.code !== 409) throw this.failure(created, `could not create the workspace volume claim ${name}`, 'START_FAILED');
  }

  /** A dockerconfigjson secret for the image's registry; an earlier run's is replaced (tokens change). */
  private async writePullSecret(
    name: string,
    image: string,
    credentials: { username: string; password: string },
    launch: SessionLaunch,
  ): Promise<{ name: string; created: boolean }> {
    const namespace = this.options.namespace;
    const secret: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name, labels: { [managedByLabel]: managedByBerth, [sessionLabel]: labelValue(launch.sessionId) } },
      data: { '.dockerconfigjson': base64(JSON.stringify(dockerConfig(image, credentials))) },
    };
    const created = await this.answer(({ core }) => core.createNamespacedSecret({ namespace, body: secret }));
    if (created.ok) return { name, created: true };
    const replaced = created.code === 409 ? await this.answer(({ core }) => core.replaceNamespacedSecret({ namespace, name, body: secret })) : created;
    if (!replaced.ok) throw this.failure(replaced, `could not store the image pull secret ${name}`, 'START_FAILED');
    return { name, created: false };
  }

  private podSpec(launch: SessionLaunch, image: string, name: string, claimName: string, pullSecret: string | undefined): V1Pod {
    const toolPort = launch.env.CONNECT_TOOL_PORT || defaultToolPort;
    if (!/^\d{1,5}$/.test(toolPort) || Number(toolPort) < 1 || Number(toolPort) > 65535) {
      throw new RunnerError('START_FAILED', `CONNECT_TOOL_PORT must be a TCP port (1-65535), not ${JSON.stringify(toolPort)}`);
    }
    const agentEnv = envVars({ ...launch.env, CONNECT_TOOL_PORT: toolPort });
    // The agent token opens the session's tunnel: the tool (and whatever its users run) never gets it,
    // as with the agent's own child processes.
    const { BERTH_SESSION_TOKEN: _agentOnly, ...toolEnv } = launch.env;
    const tool: V1Container = {
      name: toolContainerName,
      image,
      env: envVars({ ...toolEnv, CONNECT_TOOL_PORT: toolPort }),
      ports: [{ name: 'tool', containerPort: Number(toolPort), protocol: 'TCP' }],
      resources: toolResources(launch.resources),
      volumeMounts: [{ name: workspaceVolumeName, mountPath: '/workspace' }],
    };
    const agent: V1Container = {
      name: agentContainerName,
      image: this.options.agentImage,
      command: ['berth', 'agent', '--sidecar'],
      env: agentEnv,
      // A native sidecar: runs beside the tool and is stopped after it (see the top of this file).
      restartPolicy: 'Always',
      resources: agentResources,
    };
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: podLabels(launch) },
      spec: {
        restartPolicy: 'Never',
        terminationGracePeriodSeconds: Math.max(1, Math.ceil(launch.gracePeriodS)),
        // Sessions run users' code: no API credentials of the namespace's service account, and no
        // environment variables describing the namespace's services.
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        initContainers: [agent],
        containers: [tool],
        volumes: [{ name: workspaceVolumeName, persistentVolumeClaim: { claimName } }],
        ...(pullSecret ? { imagePullSecrets: [{ name: pullSecret }] } : {}),
      },
    };
  }

  /**
   * Creates the pod under its session's name. A pod left with that name by an earlier run of the session
   * is deleted first when it has ended; one still running is an error, never a second agent.
   */
  private async createPod(pod: V1Pod): Promise<void> {
    const address = { namespace: this.options.namespace, name: pod.metadata!.name! };
    for (let attempt = 0; ; attempt++) {
      const created = await this.answer(({ core }) => core.createNamespacedPod({ namespace: address.namespace, body: pod }));
      if (created.ok) return;
      if (created.code !== 409 || attempt > 0) throw this.failure(created, `could not create the session's pod ${address.name}`, 'START_FAILED');
      const leftover = await this.readPod(address);
      if (leftover && !leftover.metadata?.deletionTimestamp && observationOf(leftover).state === 'running') {
        throw new RunnerError('START_FAILED', `a pod named ${address.name} is already running this session`);
      }
      await this.stop(`${address.namespace}/${address.name}`, 1);
    }
  }

  /** A container's log (its tail); '' before the container has started; undefined once the pod is gone. */
  private async containerLog(pod: PodAddress, container: string): Promise<string | undefined> {
    const read = await this.answer(({ core }) => core.readNamespacedPodLog({ ...pod, container, tailLines: logTailLines }));
    if (read.ok) return read.value;
    if (read.code === 404) return undefined;
    // 400: the container has not started yet (image being pulled, volume being attached).
    if (read.code === 400) return '';
    throw this.failure(read, `could not read the logs of pod ${pod.name}`, 'UNAVAILABLE');
  }

  private async readPod(pod: PodAddress): Promise<V1Pod | undefined> {
    const read = await this.answer(({ core }) => core.readNamespacedPod(pod));
    if (read.ok) return read.value;
    if (read.code === 404) return undefined;
    throw this.failure(read, `could not read pod ${pod.name}`, 'UNAVAILABLE');
  }

  /** Polls until the pod is gone (or replaced by another of the same name); the kubelet confirms deletions. */
  private async waitUntilGone(pod: PodAddress, uid: string | undefined, timeoutS: number): Promise<void> {
    const deadline = Date.now() + timeoutS * 1000;
    for (let intervalMs = 100; ; intervalMs = Math.min(intervalMs * 2, 2_000)) {
      const current = await this.readPod(pod);
      if (!current || (uid !== undefined && current.metadata?.uid !== uid)) return;
      if (Date.now() >= deadline) throw new RunnerError('UNAVAILABLE', `pod ${pod.name} was still terminating ${timeoutS} s after it was deleted`);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  private async deleteSecret(secret: PodAddress): Promise<void> {
    const deleted = await this.answer(({ core }) => core.deleteNamespacedSecret(secret));
    if (!deleted.ok && deleted.code !== 404) throw this.failure(deleted, `could not delete the image pull secret ${secret.name}`, 'UNAVAILABLE');
  }

  /** Runs one API call; a refusal by the API server is an answer, an unreachable one is RunnerError('UNAVAILABLE'). */
  private async answer<T>(call: (apis: KubernetesApis) => Promise<T>): Promise<Answer<T>> {
    const apis = await this.apis();
    try {
      return { ok: true, value: await call(apis) };
    } catch (error) {
      if (apis.isApiException(error)) return { ok: false, code: error.code, message: statusMessage(error) };
      throw new RunnerError('UNAVAILABLE', `cannot reach the Kubernetes API at ${this.options.server}: ${transportMessage(error)}`);
    }
  }

  private failure(refused: { code: number; message: string }, doing: string, code: RunnerError['code']): RunnerError {
    return new RunnerError(code, `${doing}: ${this.refusal(refused)}`);
  }

  /** Why the API server refused a call, in words for the compute environment's status. */
  private refusal(refused: { code: number; message: string }, doing?: string): string {
    const server = this.options.server;
    if (refused.code === 401) return `the cluster refused the credentials (${server} answered 401 Unauthorized)`;
    const what = doing ? `${doing}: ` : '';
    if (refused.code === 403) return `${what}the credentials are not allowed to (${server} answered 403: ${refused.message})`;
    return `${what}${server} answered ${refused.code}: ${refused.message}`;
  }

  private apis(): Promise<KubernetesApis> {
    if (!this.apisLoading) {
      this.apisLoading = loadApis(this.options);
      this.apisLoading.catch(() => (this.apisLoading = undefined));
    }
    return this.apisLoading;
  }
}

async function loadApis(options: KubernetesRunnerOptions): Promise<KubernetesApis> {
  const client: KubernetesClient = await import('@kubernetes/client-node');
  /**
   * The kubeconfig's own authentication, plus a time limit on every request and one connection pool for
   * all of them: the library makes a new pool (and TLS handshake) per request, while this configuration's
   * TLS settings never change.
   */
  class SessionKubeConfig extends client.KubeConfig {
    private pool: ReturnType<RequestContext['getDispatcher']>;

    override async applySecurityAuthentication(context: RequestContext): Promise<void> {
      await super.applySecurityAuthentication(context);
      this.pool ??= context.getDispatcher();
      if (this.pool) context.setDispatcher(this.pool);
      context.setSignal(AbortSignal.timeout(requestTimeoutMs));
    }
  }
  const config = new SessionKubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'berth', server: options.server, skipTLSVerify: options.insecure ?? false, ...(options.caCert ? { caData: caData(options.caCert) } : {}) }],
    users: [{ name: 'berth', ...(options.token ? { token: options.token } : {}) }],
    contexts: [{ name: 'berth', cluster: 'berth', user: 'berth', namespace: options.namespace }],
    currentContext: 'berth',
  });
  return {
    core: config.makeApiClient(client.CoreV1Api),
    version: config.makeApiClient(client.VersionApi),
    isApiException: (error): error is { code: number; body: unknown; message: string } => error instanceof client.ApiException,
  };
}

/** The pod's labels: the launch's (values made valid), ownership for `list()`, and the session. */
function podLabels(launch: SessionLaunch): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(launch.labels)) labels[key] = labelValue(value);
  return { ...labels, [managedByLabel]: managedByBerth, [sessionLabel]: labelValue(launch.sessionId) };
}

function workspaceLabel(launch: SessionLaunch): Record<string, string> {
  const workspace = launch.labels['berth.workspace'];
  return workspace ? { 'berth.workspace': labelValue(workspace) } : {};
}

/** Requests equal to limits: a studio gets the cpu and memory it asked for, reserved on its node. */
function toolResources(resources: SessionLaunch['resources']): V1Container['resources'] {
  const amounts: Record<string, string> = {};
  if (resources.cpu > 0) amounts.cpu = Number.isInteger(resources.cpu) ? String(resources.cpu) : `${Math.round(resources.cpu * 1000)}m`;
  if (resources.memoryMiB > 0) amounts.memory = `${Math.round(resources.memoryMiB)}Mi`;
  if (resources.gpu > 0) amounts['nvidia.com/gpu'] = String(resources.gpu);
  return { requests: { ...amounts }, limits: { ...amounts } };
}

function envVars(env: Record<string, string>): V1EnvVar[] {
  return Object.entries(env).map(([name, value]) => ({ name, value }));
}

/** A docker config with the login for the image's registry (Docker Hub for images named without a host). */
function dockerConfig(image: string, credentials: { username: string; password: string }): object {
  const registry = splitRegistryHost(image).registry ?? dockerHubAuthKey;
  const auth = base64(`${credentials.username}:${credentials.password}`);
  return { auths: { [registry]: { username: credentials.username, password: credentials.password, auth } } };
}

/** What the pod's phase and its containers say of the session. */
function observationOf(pod: V1Pod): SessionObservation {
  const phase = pod.status?.phase;
  const ended = pod.status?.containerStatuses?.find((status) => status.name === toolContainerName)?.state?.terminated;
  // `ended` while the pod still runs: the tool has exited and the kubelet is stopping the sidecar.
  if (phase === 'Succeeded' || phase === 'Failed' || ended) {
    const exitCode = typeof ended?.exitCode === 'number' ? ended.exitCode : null;
    const details = [ended?.reason, ended?.message, pod.status?.reason, pod.status?.message].filter((part) => part && part !== 'Completed').join('; ');
    const what = ended ? `the tool exited with status ${exitCode ?? 'unknown'}` : `the pod ${(phase ?? 'ended').toLowerCase()}`;
    return { state: 'exited', exitCode, reason: `${what}${details ? ` (${details})` : ''}` };
  }
  const stuck = stuckContainer(pod);
  if (stuck) return { state: 'exited', exitCode: null, reason: stuck };
  // Pending (being scheduled, pulling the image, attaching the workspace) counts as running: the session
  // has been handed to the cluster and is on its way; the agent reports when the tool answers, and the
  // session controller's start timeout ends a session that never gets there. Unknown (the node stopped
  // reporting) counts as running too: the node comes back, or its pods are evicted and then missing.
  return { state: 'running' };
}

/**
 * Why a container of the pod will not start, when the kubelet waits on something that does not mend
 * itself: a wrong image name or registry login, a missing secret. Said at once instead of after the
 * controller's start timeout (a pull the kubelet retries is given up on too: Berth's docker runner fails
 * a start whose pull fails in the same way).
 */
function stuckContainer(pod: V1Pod): string | undefined {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  for (const status of statuses) {
    const waiting = status.state?.waiting;
    if (!waiting?.reason || !stuckWaitingReasons.has(waiting.reason)) continue;
    const container = status.name === agentContainerName ? 'the agent container' : `the ${status.name} container`;
    return `${container} cannot start: ${waiting.reason}${waiting.message ? ` (${waiting.message})` : ''}`;
  }
  return undefined;
}

/** Kubernetes object names (DNS-1123 labels) derived from a session id; the pull secret's name follows the pod's. */
function sessionObjectNames(sessionId: string): { pod: string; pullSecret: string } {
  const key = dnsLabelPart(sessionId, 40);
  return { pod: `berth-session-${key}`, pullSecret: `berth-pull-${key}` };
}

function pullSecretOfPod(podName: string): string | undefined {
  return podName.startsWith('berth-session-') ? `berth-pull-${podName.slice('berth-session-'.length)}` : undefined;
}

function workspaceClaimName(workspaceVolume: string): string {
  return `berth-ws-${dnsLabelPart(workspaceVolume, 63 - 'berth-ws-'.length)}`;
}

/**
 * `value` as part of a DNS-1123 label (lowercase letters, digits, `-`), at most `maxLength` long. A value
 * that had to change gets a hash of the original, so that two values never share a name.
 */
function dnsLabelPart(value: string, maxLength: number): string {
  if (value.length <= maxLength && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value)) return value;
  const hash = createHash('sha256').update(value).digest('hex').slice(0, 8);
  const readable = value.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, maxLength - hash.length - 1).replace(/-+$/, '');
  return readable ? `${readable}-${hash}` : hash;
}

/** A valid label value: at most 63 of `A-Za-z0-9-_.`, starting and ending with a letter or digit. */
function labelValue(value: string): string {
  return value.replace(/[^A-Za-z0-9_.-]+/g, '-').slice(0, 63).replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

function parseHandle(handle: string): PodAddress | undefined {
  const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(handle);
  return match ? { namespace: match[1]!, name: match[3]! } : undefined;
}

/** Why `major.minor` cannot run session pods, or undefined when it can. Providers write minors like `29+`. */
function versionTooOld(major: string, minor: string, gitVersion: string): string | undefined {
  const [majorNumber, minorNumber] = [parseInt(major, 10), parseInt(minor, 10)];
  if (Number.isNaN(majorNumber) || Number.isNaN(minorNumber)) return undefined;
  if (majorNumber > minimumVersion.major || (majorNumber === minimumVersion.major && minorNumber >= minimumVersion.minor)) return undefined;
  return `the cluster runs Kubernetes ${gitVersion || `${major}.${minor}`}; sessions need ${minimumVersion.major}.${minimumVersion.minor} or newer (native sidecar containers)`;
}

/** The API server's Status message from a refused call (the generated client leaves the body as text for most codes). */
function statusMessage(error: { code: number; body: unknown; message: string }): string {
  let body = error.body;
  if (typeof body === 'string') {
    const text = body;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      return text.trim() || `status ${error.code}`;
    }
  }
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' && message ? message : `status ${error.code}`;
}

/** A transport failure in words: fetch hides the reason (refused, TLS, DNS) in `cause`. */
function transportMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    const untrusted = typeof code === 'string' && /CERT|SIGNED|UNABLE_TO_VERIFY/.test(code);
    return untrusted ? `${cause.message} (give the cluster's CA certificate as caCert)` : cause.message;
  }
  if (error.name === 'TimeoutError') return `no answer within ${requestTimeoutMs / 1000} s`;
  return error.message;
}

function caData(caCert: string): string {
  return caCert.includes('-----BEGIN') ? base64(caCert) : caCert.trim();
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}
