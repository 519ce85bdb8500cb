/**
 * A recorded, fake Kubernetes API server for the kubernetes runner's tests: no cluster runs here. It
 * serves HTTPS (a certificate made by openssl for 127.0.0.1) with a bearer token, records every call
 * (method, path, query, body), and answers like the API server for the few endpoints the runner uses:
 * /version; pods (create, read, list with an equality label selector, delete, log); persistent volume
 * claims and secrets (create, read, replace, delete). Objects live in memory. A stand-in kubelet moves a
 * created pod from Pending to what `podFate` says (Running by default) and removes a deleted pod once
 * its "containers have stopped"; tests can also set a pod's status by hand.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeDir, scratchDir } from './containers.ts';
import { run } from './processes.ts';

export interface RecordedCall {
  method: string;
  /** The path without the query string. */
  path: string;
  query: Record<string, string>;
  /** The parsed JSON body, when there was one. */
  body: unknown;
  authorization: string | undefined;
}

/** A Kubernetes object as the fake stores it (plain JSON). */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; deletionTimestamp?: string; deletionGracePeriodSeconds?: number; [key: string]: unknown };
  spec?: Record<string, unknown> & { containers?: Array<{ name: string; image?: string; env?: Array<{ name: string; value?: string }> }>; initContainers?: Array<{ name: string; restartPolicy?: string }> };
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

/** What the stand-in kubelet makes of a new pod. */
export type PodFate =
  | { phase: 'Pending' }
  | { phase: 'Running'; logs?: Record<string, string> }
  | { phase: 'Succeeded' | 'Failed'; exitCode: number; reason: string; logs?: Record<string, string> };

export interface FakeKubernetesOptions {
  /** The bearer token the fake accepts (default `fake-token`); any other answers 401. */
  token?: string;
  /** What /version answers (default 1.31). */
  version?: { major: string; minor: string; gitVersion: string };
  /** The fate of each new pod (default: it runs). */
  podFate?: (pod: KubeObject) => PodFate;
  /** How long the kubelet takes to start a pod and to stop a deleted one (default 10 ms). */
  kubeletDelayMs?: number;
}

type Resource = 'pods' | 'persistentvolumeclaims' | 'secrets';
const kinds: Record<Resource, string> = { pods: 'Pod', persistentvolumeclaims: 'PersistentVolumeClaim', secrets: 'Secret' };

export class FakeKubernetes {
  readonly calls: RecordedCall[] = [];
  private readonly objects = new Map<string, KubeObject>();
  private readonly logs = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private resourceVersion = 1;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    /** The PEM certificate the fake serves (its own CA): give it to the runner as `caCert`. */
    readonly caCert: string,
    readonly token: string,
    private readonly options: FakeKubernetesOptions,
  ) {}

  static async start(options: FakeKubernetesOptions = {}): Promise<FakeKubernetes> {
    const { key, cert } = await selfSignedCertificate();
    let fake: FakeKubernetes | undefined;
    const server = createServer({ key, cert }, (request, response) => void fake!.handle(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    fake = new FakeKubernetes(server, url, cert, options.token ?? 'fake-token', options);
    return fake;
  }

  /** `METHOD /path?query` for each recorded call, for comparing sequences. */
  callLines(from = 0): string[] {
    return this.calls.slice(from).map((call) => {
      const query = new URLSearchParams(call.query).toString();
      return `${call.method} ${call.path}${query ? `?${query}` : ''}`;
    });
  }

  object(resource: Resource, namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(objectKey(resource, namespace, name));
  }

  objectsOf(resource: Resource): KubeObject[] {
    return [...this.objects.entries()].filter(([key]) => key.startsWith(`${resource}/`)).map(([, object]) => object);
  }

  /** Puts an object in the store as if someone else had created it. */
  put(resource: Resource, object: KubeObject): void {
    const namespace = object.metadata.namespace ?? 'default';
    this.objects.set(objectKey(resource, namespace, object.metadata.name), withServerFields(resource, namespace, object, this.resourceVersion++));
  }

  /** Replaces a pod's status, as the kubelet would. */
  setPodStatus(namespace: string, name: string, status: Record<string, unknown>): void {
    const pod = this.object('pods', namespace, name);
    if (!pod) throw new Error(`no pod ${namespace}/${name}`);
    pod.status = status;
  }

  /** Resolves once the stand-in kubelet has done all it scheduled, so that a test's own moves of a pod come after its. */
  async kubeletIdle(): Promise<void> {
    while (this.timers.size > 0) await sleep(5);
  }

  /** Moves a pod to what `fate` says, with container statuses like the kubelet's. */
  applyFate(namespace: string, name: string, fate: PodFate): void {
    const pod = this.object('pods', namespace, name);
    if (!pod) return;
    pod.status = podStatus(pod, fate);
    for (const [container, text] of Object.entries('logs' in fate ? (fate.logs ?? {}) : {})) this.appendLog(namespace, name, container, text);
  }

  appendLog(namespace: string, pod: string, container: string, text: string): void {
    const key = `${namespace}/${pod}/${container}`;
    this.logs.set(key, (this.logs.get(key) ?? '') + text);
  }

  async close(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'https://fake');
    const text = await readText(request);
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    this.calls.push({ method: request.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), body, authorization: request.headers.authorization });
    if (request.headers.authorization !== `Bearer ${this.token}`) return sendStatus(response, 401, 'Unauthorized', 'Unauthorized');
    try {
      this.route(request.method ?? 'GET', url, body, response);
    } catch (error) {
      sendStatus(response, 500, 'InternalError', (error as Error).message);
    }
  }

  private route(method: string, url: URL, body: unknown, response: ServerResponse): void {
    if (url.pathname === '/version' && method === 'GET') {
      return sendJson(response, 200, { ...(this.options.version ?? { major: '1', minor: '31', gitVersion: 'v1.31.0' }), platform: 'linux/amd64' });
    }
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/(pods|persistentvolumeclaims|secrets)(?:\/([^/]+))?(\/log)?$/.exec(url.pathname);
    if (!match) return sendStatus(response, 404, 'NotFound', 'the server could not find the requested resource');
    const [, namespace, resource, name, log] = match as unknown as [string, string, Resource, string | undefined, string | undefined];
    if (log) return method === 'GET' && resource === 'pods' ? this.podLog(namespace, name!, url, response) : sendStatus(response, 405, 'MethodNotAllowed', 'method not allowed');
    if (name === undefined) {
      if (method === 'POST') return this.create(resource, namespace, body as KubeObject, response);
      if (method === 'GET') return this.list(resource, namespace, url, response);
    } else {
      if (method === 'GET') return this.read(resource, namespace, name, response);
      if (method === 'PUT') return this.replace(resource, namespace, name, body as KubeObject, response);
      if (method === 'DELETE') return this.delete(resource, namespace, name, url, response);
    }
    sendStatus(response, 405, 'MethodNotAllowed', `${method} is not supported here`);
  }

  private create(resource: Resource, namespace: string, object: KubeObject, response: ServerResponse): void {
    const name = object?.metadata?.name;
    if (!name) return sendStatus(response, 422, 'Invalid', `${kinds[resource]} "" is invalid: metadata.name: Required value`);
    const invalidLabel = invalidLabels(object.metadata.labels ?? {});
    if (invalidLabel) return sendStatus(response, 422, 'Invalid', `${kinds[resource]} "${name}" is invalid: metadata.labels: ${invalidLabel}`);
    const key = objectKey(resource, namespace, name);
    if (this.objects.has(key)) return sendStatus(response, 409, 'AlreadyExists', `${resource} "${name}" already exists`);
    const stored = withServerFields(resource, namespace, object, this.resourceVersion++);
    if (resource === 'pods') {
      stored.status = { phase: 'Pending' };
      this.kubelet(() => this.applyFate(namespace, name, this.options.podFate?.(stored) ?? { phase: 'Running' }));
    }
    if (resource === 'persistentvolumeclaims') stored.status = { phase: 'Pending' };
    this.objects.set(key, stored);
    sendJson(response, 201, stored);
  }

  private read(resource: Resource, namespace: string, name: string, response: ServerResponse): void {
    const object = this.object(resource, namespace, name);
    if (!object) return sendStatus(response, 404, 'NotFound', `${resource} "${name}" not found`);
    sendJson(response, 200, object);
  }

  private list(resource: Resource, namespace: string, url: URL, response: ServerResponse): void {
    const selector = parseSelector(url.searchParams.get('labelSelector'));
    let items = this.objectsOf(resource).filter(
      (object) => object.metadata.namespace === namespace && Object.entries(selector).every(([key, value]) => object.metadata.labels?.[key] === value),
    );
    const limit = Number(url.searchParams.get('limit') ?? 0);
    if (limit > 0) items = items.slice(0, limit);
    sendJson(response, 200, { kind: `${kinds[resource]}List`, apiVersion: 'v1', metadata: { resourceVersion: String(this.resourceVersion) }, items });
  }

  private replace(resource: Resource, namespace: string, name: string, object: KubeObject, response: ServerResponse): void {
    const existing = this.object(resource, namespace, name);
    if (!existing) return sendStatus(response, 404, 'NotFound', `${resource} "${name}" not found`);
    const replaced = { ...withServerFields(resource, namespace, object, this.resourceVersion++), status: existing.status };
    replaced.metadata.uid = existing.metadata.uid;
    this.objects.set(objectKey(resource, namespace, name), replaced);
    sendJson(response, 200, replaced);
  }

  private delete(resource: Resource, namespace: string, name: string, url: URL, response: ServerResponse): void {
    const key = objectKey(resource, namespace, name);
    const object = this.objects.get(key);
    if (!object) return sendStatus(response, 404, 'NotFound', `${resource} "${name}" not found`);
    if (resource !== 'pods') {
      this.objects.delete(key);
      return sendJson(response, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: resource, uid: object.metadata.uid } });
    }
    const phase = (object.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      // Nothing runs: the API server removes an ended pod at once.
      this.objects.delete(key);
      return sendJson(response, 200, object);
    }
    const grace = url.searchParams.get('gracePeriodSeconds');
    object.metadata.deletionTimestamp ??= new Date().toISOString();
    object.metadata.deletionGracePeriodSeconds = grace === null ? Number(object.spec?.terminationGracePeriodSeconds ?? 30) : Number(grace);
    this.kubelet(() => {
      if (this.objects.get(key) === object) this.objects.delete(key);
    });
    sendJson(response, 200, object);
  }

  private podLog(namespace: string, name: string, url: URL, response: ServerResponse): void {
    const pod = this.object('pods', namespace, name);
    if (!pod) return sendStatus(response, 404, 'NotFound', `pods "${name}" not found`);
    const container = url.searchParams.get('container') ?? pod.spec?.containers?.[0]?.name ?? '';
    const known = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].some((c) => c.name === container);
    if (!known) return sendStatus(response, 400, 'BadRequest', `container ${container} is not valid for pod ${name}`);
    if ((pod.status as { phase?: string } | undefined)?.phase === 'Pending') {
      return sendStatus(response, 400, 'BadRequest', `container "${container}" in pod "${name}" is waiting to start: ContainerCreating`);
    }
    let text = this.logs.get(`${namespace}/${name}/${container}`) ?? '';
    const tailLines = Number(url.searchParams.get('tailLines') ?? 0);
    if (tailLines > 0) text = text.split(/(?<=\n)/).slice(-tailLines).join('');
    response.writeHead(200, { 'Content-Type': 'text/plain' });
    response.end(text);
  }

  private kubelet(work: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      work();
    }, this.options.kubeletDelayMs ?? 10);
    this.timers.add(timer);
  }
}

function objectKey(resource: Resource, namespace: string, name: string): string {
  return `${resource}/${namespace}/${name}`;
}

function withServerFields(resource: Resource, namespace: string, object: KubeObject, resourceVersion: number): KubeObject {
  const copy = structuredClone(object);
  copy.apiVersion ??= 'v1';
  copy.kind ??= kinds[resource];
  copy.metadata = { ...copy.metadata, namespace, uid: randomUUID(), resourceVersion: String(resourceVersion), creationTimestamp: new Date().toISOString() };
  return copy;
}

/** A pod's status for `fate`: regular containers in that state, native sidecars running (or stopped once the pod ended). */
function podStatus(pod: KubeObject, fate: PodFate): Record<string, unknown> {
  if (fate.phase === 'Pending') return { phase: 'Pending' };
  const now = new Date().toISOString();
  const status = (name: string, image: string | undefined, state: Record<string, unknown>) => ({
    name,
    image: image ?? '',
    imageID: '',
    ready: 'running' in state,
    started: 'running' in state,
    restartCount: 0,
    state,
  });
  const ended = fate.phase !== 'Running';
  const containerState = ended ? { terminated: { exitCode: fate.exitCode, reason: fate.reason, startedAt: now, finishedAt: now } } : { running: { startedAt: now } };
  const sidecarState = ended ? { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } } : { running: { startedAt: now } };
  const initContainers = (pod.spec?.initContainers ?? []) as Array<{ name: string; image?: string }>;
  return {
    phase: fate.phase,
    podIP: '10.1.0.7',
    startTime: now,
    initContainerStatuses: initContainers.map((container) => status(container.name, container.image, sidecarState)),
    containerStatuses: (pod.spec?.containers ?? []).map((container) => status(container.name, container.image, containerState)),
  };
}

/** The API server's rules for label keys (optional DNS prefix, then a name) and values. */
function invalidLabels(labels: Record<string, string>): string | undefined {
  const name = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
  const prefix = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  for (const [key, value] of Object.entries(labels)) {
    const slash = key.lastIndexOf('/');
    const keyName = slash >= 0 ? key.slice(slash + 1) : key;
    if (!name.test(keyName) || (slash >= 0 && (!prefix.test(key.slice(0, slash)) || slash > 253))) return `Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.'`;
    if (value !== '' && !name.test(value)) return `Invalid value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.' (at most 63)`;
  }
  return undefined;
}

function parseSelector(selector: string | null): Record<string, string> {
  const wanted: Record<string, string> = {};
  for (const term of (selector ?? '').split(',').filter(Boolean)) {
    const [key, value] = term.split(/==?/);
    if (key === undefined || value === undefined) throw new Error(`the fake understands only equality selectors, not ${term}`);
    wanted[key.trim()] = value.trim();
  }
  return wanted;
}

function sendStatus(response: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(response, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

function sendJson(response: ServerResponse, code: number, body: unknown): void {
  response.writeHead(code, { 'Content-Type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function readText(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A certificate for 127.0.0.1 that is its own CA (openssl; Node cannot make certificates). */
async function selfSignedCertificate(): Promise<{ key: string; cert: string }> {
  const dir = await scratchDir('fake-kubernetes');
  try {
    const [keyFile, certFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=fake-kubernetes', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', keyFile, '-out', certFile,
    ]);
    return { key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
  } finally {
    await removeDir(dir);
  }
}
