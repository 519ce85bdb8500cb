/**
 * The kubernetes runner against a recorded, fake Kubernetes API (test/support/fake-kubernetes.ts): no
 * cluster runs here. The tests check the objects the runner sends (claim, secret, pod) field by field, the
 * sequence of API calls for start/stop/remove, how pod phases map to observations, and check()'s reasons.
 * They prove what Berth asks of Kubernetes, not what a kubelet does with it.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { KubernetesRunner, type KubernetesRunnerOptions } from '../../../src/studios/runners/kubernetes-runner.ts';
import { RunnerError, type SessionLaunch } from '../../../src/studios/runners/runner.ts';
import { FakeKubernetes, type KubeObject, type PodFate } from '../../support/fake-kubernetes.ts';
import { eventually } from '../../support/waiting.ts';
import { runnerContract, type ToolBehaviour } from './runner.contract.ts';

const namespace = 'studios';
const agentImage = 'registry.example.org/berth/agent:0.1.0';
const image = '127.0.0.1:5000/alice/studios/jupyter@sha256:' + 'ab'.repeat(32);

/** The contract's behaviours, and `stays-pending`: a pod the stand-in kubelet leaves Pending until the test moves it. */
type Behaviour = ToolBehaviour | 'stays-pending';

let sessions = 0;

function launchFor(overrides: Partial<SessionLaunch> = {}, behaviour: Behaviour = 'normal'): SessionLaunch {
  const sessionId = `k8s${String(++sessions).padStart(4, '0')}${Math.random().toString(36).slice(2, 10)}`;
  return {
    sessionId,
    workspaceSlug: 'alice',
    userName: 'alice',
    image,
    pullCredentials: null,
    hostCommand: null,
    env: {
      BERTH_CONNECT_URL: 'http://berth.example.org:8080',
      BERTH_SESSION_ID: sessionId,
      BERTH_SESSION_TOKEN: 'bsa_fake-agent-token',
      NOTEBOOK_THEME: 'dark',
      TOOL_BEHAVIOUR: behaviour,
    },
    resources: { cpu: 2, memoryMiB: 4096, gpu: 0 },
    workspaceVolume: sessionId,
    labels: { 'berth.managed': 'true', 'berth.session': sessionId, 'berth.workspace': 'alice', 'berth.user': 'alice' },
    gracePeriodS: 30,
    ...overrides,
  };
}

/** The stand-in kubelet's verdict: the tool of an `exits-at-once` launch exits 3, `stays-pending` waits, every other one runs. */
function fateOf(pod: KubeObject): PodFate {
  const tool = pod.spec?.containers?.find((container) => container.name === 'tool');
  const env = Object.fromEntries((tool?.env ?? []).map((variable) => [variable.name, variable.value ?? '']));
  const output = `tool stdout ${env.BERTH_SESSION_ID}\n`;
  if (env.TOOL_BEHAVIOUR === 'exits-at-once') return { phase: 'Failed', exitCode: 3, reason: 'Error', logs: { tool: output } };
  if (env.TOOL_BEHAVIOUR === 'stays-pending') return { phase: 'Pending' };
  return { phase: 'Running', logs: { tool: output, agent: 'berth agent: tunnel open\n' } };
}

function runnerFor(fake: FakeKubernetes, options: Partial<KubernetesRunnerOptions> = {}): KubernetesRunner {
  return new KubernetesRunner({ server: fake.url, token: fake.token, caCert: fake.caCert, namespace, agentImage, ...options });
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function bodyOf(fake: FakeKubernetes, from: number, method: string, path: string): KubeObject {
  const call = fake.calls.slice(from).find((recorded) => recorded.method === method && recorded.path === path);
  assert.ok(call, `no ${method} ${path} among ${JSON.stringify(fake.callLines(from))}`);
  return call.body as KubeObject;
}

interface PodContainer {
  name: string;
  image: string;
  command?: string[];
  env: Array<{ name: string; value: string }>;
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  ports?: Array<{ name: string; containerPort: number; protocol: string }>;
  restartPolicy?: string;
}

interface PodBody {
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    restartPolicy: string;
    terminationGracePeriodSeconds: number;
    automountServiceAccountToken: boolean;
    enableServiceLinks: boolean;
    containers: PodContainer[];
    initContainers: PodContainer[];
    volumes: Array<{ name: string; persistentVolumeClaim: { claimName: string } }>;
    imagePullSecrets?: Array<{ name: string }>;
  };
}

function envOf(container: PodContainer): Record<string, string> {
  return Object.fromEntries(container.env.map((variable) => [variable.name, variable.value]));
}

describe('kubernetes runner against a recorded Kubernetes API (no cluster)', () => {
  let fake: FakeKubernetes;
  let runner: KubernetesRunner;

  before(async () => {
    fake = await FakeKubernetes.start({ podFate: fateOf });
    runner = runnerFor(fake, { storageClass: 'fast-ssd', workspaceSize: '25Gi' });
  });

  after(async () => {
    await fake?.close();
  });

  describe('start: the recorded calls and the objects sent', () => {
    const launch = launchFor({ pullCredentials: { username: 'alice', password: 'pull-token-1' }, resources: { cpu: 1.5, memoryMiB: 2048, gpu: 2 } });
    let handle: string;
    let from: number;
    const progress: string[] = [];
    let pod: PodBody;

    before(async () => {
      from = fake.calls.length;
      handle = await runner.start(launch, (line) => progress.push(line));
      pod = bodyOf(fake, from, 'POST', `/api/v1/namespaces/${namespace}/pods`) as unknown as PodBody;
    });

    it('creates the workspace claim, then the pull secret, then the pod, with the token, and answers namespace/pod', () => {
      assert.equal(handle, `${namespace}/berth-session-${launch.sessionId}`);
      assert.deepEqual(fake.callLines(from), [
        `POST /api/v1/namespaces/${namespace}/persistentvolumeclaims`,
        `POST /api/v1/namespaces/${namespace}/secrets`,
        `POST /api/v1/namespaces/${namespace}/pods`,
      ]);
      for (const call of fake.calls.slice(from)) assert.equal(call.authorization, `Bearer ${fake.token}`);
      assert.deepEqual(progress, [
        `Created workspace volume claim berth-ws-${launch.sessionId} (25Gi)`,
        `Creating pod berth-session-${launch.sessionId} in namespace ${namespace}`,
      ]);
    });

    it('the claim: berth-ws-<workspaceVolume>, ReadWriteOnce, the storage class and size, Berth labels', () => {
      const claim = bodyOf(fake, from, 'POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`);
      assert.deepEqual(claim, {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: `berth-ws-${launch.sessionId}`, labels: { 'app.kubernetes.io/managed-by': 'berth', 'berth.workspace': 'alice' } },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '25Gi' } }, storageClassName: 'fast-ssd' },
      });
    });

    it('the pod: its name, the launch labels with managed-by, the grace period, restart Never, no service account token', () => {
      assert.equal(pod.metadata.name, `berth-session-${launch.sessionId}`);
      assert.deepEqual(pod.metadata.labels, {
        'berth.managed': 'true',
        'berth.session': launch.sessionId,
        'berth.workspace': 'alice',
        'berth.user': 'alice',
        'app.kubernetes.io/managed-by': 'berth',
      });
      assert.equal(pod.spec.terminationGracePeriodSeconds, 30);
      assert.equal(pod.spec.restartPolicy, 'Never');
      assert.equal(pod.spec.automountServiceAccountToken, false);
      assert.equal(pod.spec.enableServiceLinks, false);
      assert.deepEqual(pod.spec.volumes, [{ name: 'workspace', persistentVolumeClaim: { claimName: `berth-ws-${launch.sessionId}` } }]);
      assert.deepEqual(pod.spec.containers.map((container) => container.name), ['tool']);
      assert.deepEqual(pod.spec.initContainers.map((container) => container.name), ['agent']);
    });

    it('the tool container: the image as it is, the env with CONNECT_TOOL_PORT but not the agent token, cpu/memory/gpu, /workspace', () => {
      const tool = pod.spec.containers[0]!;
      assert.equal(tool.image, image);
      assert.equal(tool.command, undefined, 'the image runs its own entrypoint');
      const { BERTH_SESSION_TOKEN: _token, ...expected } = launch.env;
      assert.deepEqual(envOf(tool), { ...expected, CONNECT_TOOL_PORT: '8080' });
      assert.deepEqual(tool.ports, [{ name: 'tool', containerPort: 8080, protocol: 'TCP' }]);
      const amounts = { cpu: '1500m', memory: '2048Mi', 'nvidia.com/gpu': '2' };
      assert.deepEqual(tool.resources, { requests: amounts, limits: amounts });
      assert.deepEqual(tool.volumeMounts, [{ name: 'workspace', mountPath: '/workspace' }]);
    });

    it('the agent container: a native sidecar running `berth agent --sidecar` from the agent image, with the session env and the tool port', () => {
      const agent = pod.spec.initContainers[0]!;
      assert.equal(agent.image, agentImage);
      assert.deepEqual(agent.command, ['berth', 'agent', '--sidecar']);
      assert.equal(agent.restartPolicy, 'Always');
      assert.deepEqual(envOf(agent), { ...launch.env, CONNECT_TOOL_PORT: '8080' });
      assert.deepEqual(agent.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '256Mi' } });
      assert.equal(agent.volumeMounts, undefined);
    });

    it('the pull secret: a dockerconfigjson for the image registry host, named in imagePullSecrets', () => {
      const secret = bodyOf(fake, from, 'POST', `/api/v1/namespaces/${namespace}/secrets`) as KubeObject & { type: string; data: Record<string, string> };
      assert.equal(secret.metadata.name, `berth-pull-${launch.sessionId}`);
      assert.equal(secret.type, 'kubernetes.io/dockerconfigjson');
      assert.deepEqual(secret.metadata.labels, { 'app.kubernetes.io/managed-by': 'berth', 'berth.session': launch.sessionId });
      const config = JSON.parse(Buffer.from(secret.data['.dockerconfigjson']!, 'base64').toString('utf8'));
      assert.deepEqual(config, {
        auths: { '127.0.0.1:5000': { username: 'alice', password: 'pull-token-1', auth: Buffer.from('alice:pull-token-1').toString('base64') } },
      });
      assert.deepEqual(pod.spec.imagePullSecrets, [{ name: `berth-pull-${launch.sessionId}` }]);
    });
  });

  it('without pull credentials, storage class or size: no secret, no imagePullSecrets, 10Gi on the default class; the launch CONNECT_TOOL_PORT wins', async () => {
    const plain = runnerFor(fake);
    const launch = launchFor({ env: { ...launchFor().env, CONNECT_TOOL_PORT: '8888' }, resources: { cpu: 0.25, memoryMiB: 512, gpu: 0 }, gracePeriodS: 5 });
    const from = fake.calls.length;
    await plain.start(launch, () => undefined);
    assert.deepEqual(fake.callLines(from), [`POST /api/v1/namespaces/${namespace}/persistentvolumeclaims`, `POST /api/v1/namespaces/${namespace}/pods`]);
    const claim = bodyOf(fake, from, 'POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`) as KubeObject & { spec: Record<string, unknown> };
    assert.deepEqual(claim.spec, { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } });
    const pod = bodyOf(fake, from, 'POST', `/api/v1/namespaces/${namespace}/pods`) as unknown as PodBody;
    assert.equal(pod.spec.imagePullSecrets, undefined);
    assert.equal(pod.spec.terminationGracePeriodSeconds, 5);
    const [tool, agent] = [pod.spec.containers[0]!, pod.spec.initContainers[0]!];
    assert.equal(envOf(tool).CONNECT_TOOL_PORT, '8888');
    assert.equal(envOf(agent).CONNECT_TOOL_PORT, '8888');
    assert.deepEqual(tool.ports, [{ name: 'tool', containerPort: 8888, protocol: 'TCP' }]);
    const amounts = { cpu: '250m', memory: '512Mi' };
    assert.deepEqual(tool.resources, { requests: amounts, limits: amounts });
  });

  it('a second session on the same workspace keeps its claim (409 is fine) and gets its own pod', async () => {
    const first = launchFor();
    const second = launchFor({ workspaceVolume: first.workspaceVolume });
    await runner.start(first, () => undefined);
    const claimUid = fake.object('persistentvolumeclaims', namespace, `berth-ws-${first.workspaceVolume}`)?.metadata.uid;
    const from = fake.calls.length;
    const progress: string[] = [];
    const handle = await runner.start(second, (line) => progress.push(line));
    assert.equal(handle, `${namespace}/berth-session-${second.sessionId}`);
    assert.deepEqual(fake.callLines(from), [`POST /api/v1/namespaces/${namespace}/persistentvolumeclaims`, `POST /api/v1/namespaces/${namespace}/pods`]);
    assert.equal(fake.object('persistentvolumeclaims', namespace, `berth-ws-${first.workspaceVolume}`)?.metadata.uid, claimUid, 'the claim was kept');
    assert.ok(!progress.some((line) => line.startsWith('Created workspace volume claim')), JSON.stringify(progress));
  });

  it('label values are made valid (63 characters of A-Za-z0-9-_.), and odd names still give valid object names', async () => {
    const launch = launchFor({ workspaceVolume: 'Alice/My Workspace_1' });
    launch.labels = { ...launch.labels, 'berth.user': 'alice@example.org', 'berth.workspace': `-${'w'.repeat(80)}` };
    const from = fake.calls.length;
    await runner.start(launch, () => undefined);
    const pod = bodyOf(fake, from, 'POST', `/api/v1/namespaces/${namespace}/pods`) as unknown as PodBody;
    assert.equal(pod.metadata.labels['berth.user'], 'alice-example.org');
    assert.equal(pod.metadata.labels['berth.workspace'], 'w'.repeat(62));
    const claimName = pod.spec.volumes[0]!.persistentVolumeClaim.claimName;
    assert.match(claimName, /^berth-ws-alice-my-workspace-1-[0-9a-f]{8}$/);
    assert.ok(fake.object('persistentvolumeclaims', namespace, claimName), 'the fake API accepted the claim');
  });

  it('a launch without an image, or with a CONNECT_TOOL_PORT that is no port: START_FAILED before any API call', async () => {
    const from = fake.calls.length;
    await assert.rejects(runner.start(launchFor({ image: null, hostCommand: ['jupyter'] }), () => undefined), (error: unknown) => {
      return error instanceof RunnerError && error.code === 'START_FAILED' && /needs an image/.test(error.message);
    });
    await assert.rejects(runner.start(launchFor({ env: { ...launchFor().env, CONNECT_TOOL_PORT: 'http' } }), () => undefined), (error: unknown) => {
      return error instanceof RunnerError && error.code === 'START_FAILED' && /CONNECT_TOOL_PORT must be a TCP port/.test(error.message);
    });
    assert.deepEqual(fake.callLines(from), []);
  });

  it('a pod the API server refuses: START_FAILED with its message, and the pull secret made for it is deleted', async () => {
    const launch = launchFor({ pullCredentials: { username: 'alice', password: 'pw' } });
    launch.labels = { ...launch.labels, 'not a valid key!': 'x' };
    const from = fake.calls.length;
    await assert.rejects(runner.start(launch, () => undefined), (error: unknown) => {
      assert.ok(error instanceof RunnerError);
      assert.equal(error.code, 'START_FAILED');
      assert.match(error.message, /could not create the session's pod berth-session-\S+: .*answered 422: .*metadata\.labels/);
      return true;
    });
    assert.deepEqual(fake.callLines(from).slice(1), [
      `POST /api/v1/namespaces/${namespace}/secrets`,
      `POST /api/v1/namespaces/${namespace}/pods`,
      `DELETE /api/v1/namespaces/${namespace}/secrets/berth-pull-${launch.sessionId}`,
    ]);
    assert.equal(fake.object('secrets', namespace, `berth-pull-${launch.sessionId}`), undefined);
  });

  it('a pod left by an earlier run of the session: deleted and replaced when it has ended, an error while it runs', async () => {
    const launch = launchFor({ pullCredentials: { username: 'alice', password: 'old' } });
    const handle = await runner.start(launch, () => undefined);
    const podName = handle.split('/')[1]!;
    await eventually('the first pod to run', () => (fake.object('pods', namespace, podName)?.status as { phase?: string })?.phase === 'Running');
    await assert.rejects(runner.start({ ...launch, pullCredentials: { username: 'alice', password: 'new' } }, () => undefined), /already running this session/);
    assert.ok(fake.object('secrets', namespace, `berth-pull-${launch.sessionId}`), 'the running pod keeps its pull secret');

    const firstUid = fake.object('pods', namespace, podName)!.metadata.uid;
    fake.applyFate(namespace, podName, { phase: 'Succeeded', exitCode: 0, reason: 'Completed' });
    const from = fake.calls.length;
    assert.equal(await runner.start({ ...launch, pullCredentials: { username: 'alice', password: 'new' } }, () => undefined), handle);
    const lines = fake.callLines(from);
    assert.deepEqual(lines.slice(0, 5), [
      `POST /api/v1/namespaces/${namespace}/persistentvolumeclaims`,
      `POST /api/v1/namespaces/${namespace}/secrets`,
      `PUT /api/v1/namespaces/${namespace}/secrets/berth-pull-${launch.sessionId}`,
      `POST /api/v1/namespaces/${namespace}/pods`,
      `GET /api/v1/namespaces/${namespace}/pods/${podName}`,
    ]);
    assert.equal(lines[5], `DELETE /api/v1/namespaces/${namespace}/pods/${podName}?gracePeriodSeconds=1`);
    assert.equal(lines.at(-1), `POST /api/v1/namespaces/${namespace}/pods`);
    assert.notEqual(fake.object('pods', namespace, podName)?.metadata.uid, firstUid, 'a new pod');
    const secret = fake.object('secrets', namespace, `berth-pull-${launch.sessionId}`) as KubeObject & { data: Record<string, string> };
    assert.match(Buffer.from(secret.data['.dockerconfigjson']!, 'base64').toString('utf8'), /"password":"new"/);
  });

  describe('observe: pod phases and container states', () => {
    let handle: string;
    let podName: string;

    before(async () => {
      handle = await runner.start(launchFor(), () => undefined);
      podName = handle.split('/')[1]!;
      await eventually('the stand-in kubelet to run the pod', () => (fake.object('pods', namespace, podName)?.status as { phase?: string })?.phase === 'Running');
    });

    function toolStatus(state: Record<string, unknown>) {
      return [{ name: 'tool', image, imageID: '', ready: false, restartCount: 0, state }];
    }

    it('Pending (scheduling, pulling) counts as running', async () => {
      fake.setPodStatus(namespace, podName, { phase: 'Pending', containerStatuses: toolStatus({ waiting: { reason: 'ContainerCreating' } }) });
      assert.deepEqual(await runner.observe(handle), { state: 'running' });
    });

    it('Pending with a container the kubelet cannot start (image pull, wrong name) is exited at once, naming the container', async () => {
      fake.setPodStatus(namespace, podName, {
        phase: 'Pending',
        containerStatuses: toolStatus({ waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` } }),
      });
      assert.deepEqual(await runner.observe(handle), {
        state: 'exited',
        exitCode: null,
        reason: `the tool container cannot start: ImagePullBackOff (Back-off pulling image "${image}")`,
      });
      fake.setPodStatus(namespace, podName, {
        phase: 'Pending',
        initContainerStatuses: [{ name: 'agent', image: agentImage, imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'InvalidImageName' } } }],
      });
      assert.deepEqual(await runner.observe(handle), { state: 'exited', exitCode: null, reason: 'the agent container cannot start: InvalidImageName' });
    });

    it('Running is running, and so is Unknown (a node that stopped reporting)', async () => {
      fake.setPodStatus(namespace, podName, { phase: 'Running', containerStatuses: toolStatus({ running: { startedAt: new Date().toISOString() } }) });
      assert.deepEqual(await runner.observe(handle), { state: 'running' });
      fake.setPodStatus(namespace, podName, { phase: 'Unknown' });
      assert.deepEqual(await runner.observe(handle), { state: 'running' });
    });

    it('Succeeded is exited with the tool exit code 0', async () => {
      fake.setPodStatus(namespace, podName, { phase: 'Succeeded', containerStatuses: toolStatus({ terminated: { exitCode: 0, reason: 'Completed' } }) });
      assert.deepEqual(await runner.observe(handle), { state: 'exited', exitCode: 0, reason: 'the tool exited with status 0' });
    });

    it('Failed is exited with the tool exit code and reason', async () => {
      fake.setPodStatus(namespace, podName, { phase: 'Failed', containerStatuses: toolStatus({ terminated: { exitCode: 137, reason: 'OOMKilled' } }) });
      assert.deepEqual(await runner.observe(handle), { state: 'exited', exitCode: 137, reason: 'the tool exited with status 137 (OOMKilled)' });
    });

    it('Failed without a tool status (an evicted pod) is exited with no exit code and the pod reason', async () => {
      fake.setPodStatus(namespace, podName, { phase: 'Failed', reason: 'Evicted', message: 'The node was low on resource: memory.' });
      assert.deepEqual(await runner.observe(handle), {
        state: 'exited',
        exitCode: null,
        reason: 'the pod failed (Evicted; The node was low on resource: memory.)',
      });
    });

    it('a tool that ended while its pod still runs (the sidecar being stopped) is exited', async () => {
      fake.setPodStatus(namespace, podName, { phase: 'Running', containerStatuses: toolStatus({ terminated: { exitCode: 2, reason: 'Error' } }) });
      assert.deepEqual(await runner.observe(handle), { state: 'exited', exitCode: 2, reason: 'the tool exited with status 2 (Error)' });
    });

    it('a pod that does not exist is missing', async () => {
      assert.deepEqual(await runner.observe(`${namespace}/berth-session-nosuchsession`), {
        state: 'missing',
        reason: `pod berth-session-nosuchsession no longer exists in namespace ${namespace}`,
      });
    });
  });

  it('stop: DELETE with the grace period, then polls until the pod is gone', async () => {
    const handle = await runner.start(launchFor(), () => undefined);
    const podName = handle.split('/')[1]!;
    await eventually('the pod to run', () => (fake.object('pods', namespace, podName)?.status as { phase?: string })?.phase === 'Running');
    const from = fake.calls.length;
    await runner.stop(handle, 30);
    const lines = fake.callLines(from);
    assert.equal(lines[0], `DELETE /api/v1/namespaces/${namespace}/pods/${podName}?gracePeriodSeconds=30`);
    assert.ok(lines.length >= 2, JSON.stringify(lines));
    for (const line of lines.slice(1)) assert.equal(line, `GET /api/v1/namespaces/${namespace}/pods/${podName}`);
    assert.equal(fake.object('pods', namespace, podName), undefined, 'gone when stop() resolved');
    assert.deepEqual((await runner.observe(handle)).state, 'missing');
  });

  it('stop with a grace period of 0 asks for 1 s (a confirmed kill, not a forced deletion); stop of a missing pod is one DELETE', async () => {
    const handle = await runner.start(launchFor(), () => undefined);
    const podName = handle.split('/')[1]!;
    let from = fake.calls.length;
    await runner.stop(handle, 0);
    assert.equal(fake.callLines(from)[0], `DELETE /api/v1/namespaces/${namespace}/pods/${podName}?gracePeriodSeconds=1`);
    from = fake.calls.length;
    await runner.stop(handle, 30);
    assert.deepEqual(fake.callLines(from), [`DELETE /api/v1/namespaces/${namespace}/pods/${podName}?gracePeriodSeconds=30`]);
  });

  it('remove: deletes the pod and the pull secret, keeps the workspace claim; again, it answers the same', async () => {
    const launch = launchFor({ pullCredentials: { username: 'alice', password: 'pw' } });
    const handle = await runner.start(launch, () => undefined);
    const podName = handle.split('/')[1]!;
    await eventually('the pod to run', () => (fake.object('pods', namespace, podName)?.status as { phase?: string })?.phase === 'Running');
    await runner.stop(handle, 30);
    for (let round = 0; round < 2; round++) {
      const from = fake.calls.length;
      await runner.remove(handle);
      assert.deepEqual(fake.callLines(from), [
        `DELETE /api/v1/namespaces/${namespace}/pods/${podName}?gracePeriodSeconds=1`,
        `DELETE /api/v1/namespaces/${namespace}/secrets/berth-pull-${launch.sessionId}`,
      ]);
    }
    assert.equal(fake.object('secrets', namespace, `berth-pull-${launch.sessionId}`), undefined);
    assert.ok(fake.object('persistentvolumeclaims', namespace, `berth-ws-${launch.workspaceVolume}`), 'the workspace claim is kept');
  });

  it("logs: the tool container's log then the agent's (their tails); empty before the containers start; NOT_FOUND once the pod is gone", async () => {
    const launch = launchFor({}, 'stays-pending');
    const handle = await runner.start(launch, () => undefined);
    const podName = handle.split('/')[1]!;
    assert.equal(await runner.logs(handle), '');
    await fake.kubeletIdle(); // else its late "stays pending" could undo the move below between the two log reads
    fake.applyFate(namespace, podName, { phase: 'Running', logs: { tool: `tool stdout ${launch.sessionId}\nserving on 8080\n`, agent: 'berth agent: tunnel open\n' } });
    const from = fake.calls.length;
    assert.equal(await runner.logs(handle), `tool stdout ${launch.sessionId}\nserving on 8080\n--- berth agent (sidecar) ---\nberth agent: tunnel open\n`);
    assert.deepEqual(fake.callLines(from), [
      `GET /api/v1/namespaces/${namespace}/pods/${podName}/log?container=tool&tailLines=10000`,
      `GET /api/v1/namespaces/${namespace}/pods/${podName}/log?container=agent&tailLines=10000`,
    ]);
    await runner.stop(handle, 1);
    await assert.rejects(runner.logs(handle), (error: unknown) => error instanceof RunnerError && error.code === 'NOT_FOUND');
  });

  it('list: the pods labelled managed-by=berth in the namespace, by their berth.session label', async () => {
    const launch = launchFor();
    const handle = await runner.start(launch, () => undefined);
    fake.put('pods', { metadata: { name: 'someone-elses-pod', namespace, labels: { 'berth.session': 'not-ours' } }, spec: { containers: [{ name: 'x' }] } });
    const from = fake.calls.length;
    const listed = await runner.list();
    assert.deepEqual(fake.callLines(from), [`GET /api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=berth')}`]);
    assert.ok(listed.some((entry) => entry.handle === handle && entry.sessionId === launch.sessionId), JSON.stringify(listed));
    assert.ok(!listed.some((entry) => entry.sessionId === 'not-ours'));
    for (const entry of listed) assert.match(entry.handle, new RegExp(`^${namespace}/berth-session-`));
  });

  describe('check', () => {
    it('available: GET /version, then one pod listed in the namespace', async () => {
      const from = fake.calls.length;
      assert.deepEqual(await runner.check(), { available: true });
      assert.deepEqual(fake.callLines(from), [
        'GET /version',
        `GET /api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent('app.kubernetes.io/managed-by=berth')}&limit=1`,
      ]);
    });

    it('a bad token: the API answers 401, the reason says the cluster refused the credentials and names the server', async () => {
      const check = await runnerFor(fake, { token: 'not-the-token' }).check();
      assert.equal(check.available, false);
      assert.match((check as { reason: string }).reason, /^the cluster refused the credentials/);
      assert.ok((check as { reason: string }).reason.includes(fake.url), (check as { reason: string }).reason);
    });

    it('an unreachable server: the reason names the server and the error', async () => {
      const server = `https://127.0.0.1:${await closedPort()}`;
      const check = await runnerFor(fake, { server }).check();
      assert.equal(check.available, false);
      assert.match((check as { reason: string }).reason, new RegExp(`^cannot reach the Kubernetes API at ${server.replace(/[.]/g, '\\.')}: .*ECONNREFUSED`));
    });

    it('a server whose certificate is not trusted (no caCert): unavailable, naming the certificate problem; insecure: true skips the check', async () => {
      const check = await runnerFor(fake, { caCert: undefined }).check();
      assert.equal(check.available, false);
      assert.match((check as { reason: string }).reason, /cannot reach the Kubernetes API at .*certificate/);
      assert.deepEqual(await runnerFor(fake, { caCert: undefined, insecure: true }).check(), { available: true });
    });

    it('a cluster older than 1.29 (no native sidecars): unavailable, saying why', async () => {
      const old = await FakeKubernetes.start({ version: { major: '1', minor: '28+', gitVersion: 'v1.28.9-eks-1' } });
      try {
        const check = await runnerFor(old).check();
        assert.deepEqual(check, { available: false, reason: 'the cluster runs Kubernetes v1.28.9-eks-1; sessions need 1.29 or newer (native sidecar containers)' });
      } finally {
        await old.close();
      }
    });

    it('runner calls against an unreachable server throw RunnerError UNAVAILABLE', async () => {
      const unreachable = runnerFor(fake, { server: `https://127.0.0.1:${await closedPort()}` });
      await assert.rejects(unreachable.start(launchFor(), () => undefined), (error: unknown) => error instanceof RunnerError && error.code === 'UNAVAILABLE');
      await assert.rejects(unreachable.observe(`${namespace}/berth-session-x`), (error: unknown) => error instanceof RunnerError && error.code === 'UNAVAILABLE');
    });
  });
});

runnerContract('kubernetes (recorded Kubernetes API, no cluster)', async () => {
  const fake = await FakeKubernetes.start({ podFate: fateOf });
  return {
    runner: runnerFor(fake),
    launch: async (behaviour) => launchFor({}, behaviour),
    // Nothing runs: there is no tool to reach through a proxy. What "still runs" means here is what a
    // cluster would say: a pod object of the session that has not ended.
    async stillRuns(handle) {
      const [podNamespace, podName] = handle.split('/');
      const phase = (fake.object('pods', podNamespace ?? '', podName ?? '')?.status as { phase?: string } | undefined)?.phase;
      return phase === 'Pending' || phase === 'Running';
    },
    workspaceExists: async (launch) => fake.object('persistentvolumeclaims', namespace, `berth-ws-${launch.workspaceVolume}`) !== undefined,
    close: () => fake.close(),
  };
});
