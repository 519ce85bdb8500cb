/**
 * Errors platform engineers paste from Seqera Studios, Wave, Amazon ECR, HealthOmics, docker and
 * Kubernetes, with their cause and fix (Berth commands where Berth can do it). The table is ordered
 * most specific first: a pasted text often carries a generic wrapper (`CannotPullContainerError: …`)
 * around the specific cause (`toomanyrequests`), and the specific entry explains it best.
 */
export interface KnownError {
  id: string;
  title: string;
  /** Any of these matching recognises the error; named groups (`image`, `repository`) fill the fix. */
  patterns: RegExp[];
  cause: string;
  fix: string | ((groups: Record<string, string | undefined>) => string);
  /** A realistic text of this error, as it is pasted (the tests match every entry with it). */
  sample: string;
}

const repo = (groups: Record<string, string | undefined>, fallback = 'REGISTRY/REPOSITORY') => groups.repository ?? groups.image ?? fallback;
const hostOf = (reference: string | undefined) => {
  if (!reference) return 'REGISTRY';
  const first = reference.replace(/^[a-z]+:\/\//, '').split('/')[0]!;
  return first.includes('.') || first.includes(':') || first === 'localhost' ? first : 'docker.io';
};

export const knownErrors: readonly KnownError[] = [
  {
    id: 'freeze-build-repository',
    title: 'No container repository for a freeze build',
    patterns: [/Attribute `?buildRepository`? must be specified when using freeze mode/i],
    cause: 'A build in freeze mode (a studio with conda packages or a repository, or `wave --freeze`) must push its image somewhere lasting, and no build repository was given: the workspace has no Studios container repository.',
    fix: 'Set the workspace\'s container repository: berth workspaces settings set WORKSPACE --container-repository HOST/WORKSPACE/studios   (a path without host means Berth\'s own registry), then run berth doctor --workspace WORKSPACE.',
    sample: 'Attribute `buildRepository` must be specified when using freeze mode',
  },
  {
    id: 'missing-push-credentials',
    title: 'No credentials to push to the container repository',
    patterns: [/Missing credentials for container repository:?\s*(?<repository>[^\s]+)?/i],
    cause: 'The builder pushes to a registry other than Berth\'s own with the workspace credential named after that registry\'s host, and there is none (or the user may not push to Berth\'s repository).',
    fix: (g) =>
      `Add the push credential, named after the registry host:\n  printf '%s' "$REGISTRY_PASSWORD" | berth credentials add --workspace WORKSPACE --name ${hostOf(g.repository)} --provider container-reg --registry ${hostOf(g.repository)} --user REGISTRY_USER --password-stdin\nFor Berth's own registry, the user needs the maintain role in the repository's workspace (berth members set WORKSPACE USER maintain).`,
    sample: 'Missing credentials for container repository: registry.example.org/lab/studios',
  },
  {
    id: 'docker-hub-rate-limit',
    title: 'Docker Hub pull rate limit',
    patterns: [/toomanyrequests/i, /You have reached your pull rate limit/i, /429 Too Many Requests/i],
    cause: 'Docker Hub limits anonymous pulls per IP address (and authenticated ones per account); every pull from a cluster behind one NAT address counts against the same limit.',
    fix: 'Pull through a cache so that each image is fetched from Docker Hub once: berth registry cache-rules create hub docker-hub --username DOCKERHUB_USER < token.txt   then use HOST/WORKSPACE/hub/<image> (berth map rewrites workflow references). Or log in to Docker Hub where the pull happens.',
    sample: 'Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit',
  },
  {
    id: 'no-basic-auth-credentials',
    title: 'No registry login on the pulling host',
    patterns: [/no basic auth credentials/i],
    cause: 'The client sent no login to a registry that needs one: docker has no `docker login` (or credential helper) for that host, often an ECR registry whose login expired (ECR logins last 12 hours).',
    fix: 'Log in again: aws ecr get-login-password --endpoint-url http://HOST/ecr --region REGION | docker login -u AWS --password-stdin HOST   (for Amazon ECR leave out --endpoint-url). For studios, check the compute environment\'s registry credential: berth doctor.',
    sample: 'CannotPullContainerError: Error response from daemon: Get https://123456789012.dkr.ecr.eu-west-2.amazonaws.com/v2/tools/samtools/manifests/1.19: no basic auth credentials',
  },
  {
    id: 'pull-access-denied',
    title: 'Pull access denied (or no such repository)',
    patterns: [/pull access denied for (?<repository>[^\s,]+)/i, /repository does not exist or may require 'docker login'/i],
    cause: 'The registry refused the pull: the repository does not exist under that name, or the puller is not logged in, or its login may not read the repository (another workspace\'s repository without a policy letting it pull).',
    fix: (g) =>
      `Check the name: berth check ${repo(g, 'IMAGE')}\nIf the repository is in another workspace, grant the pulling workspace: berth grant ${repo(g, 'WORKSPACE/REPOSITORY')} --principal PULLING_WORKSPACE --actions pull\nElse log in where the pull runs (docker login ${hostOf(g.repository)}).`,
    sample: 'Error response from daemon: pull access denied for lab/tools/samtools, repository does not exist or may require \'docker login\': denied: requested access to the resource is denied',
  },
  {
    id: 'manifest-unknown',
    title: 'Image tag or digest not found',
    patterns: [/manifest for (?<image>[^\s]+) not found/i, /manifest unknown/i, /MANIFEST_UNKNOWN/, /ImageNotFoundException/, /not found: manifest unknown/i],
    cause: 'The repository exists but has no image with that tag or digest: a typo in the tag, a tag never pushed (a failed build), or deleted by a lifecycle policy; for a pull-through cache, the upstream does not have it either.',
    fix: (g) =>
      `See what exists: berth check ${g.image ?? 'IMAGE'}   (and berth registry images list REPOSITORY). Push or rebuild the tag, or fix the reference (berth map … --rewrite updates workflows). If a lifecycle policy expired it: berth registry lifecycle run --dry-run.`,
    sample: 'Error response from daemon: manifest for 127.0.0.1:8080/lab/tools/samtools:1.19 not found: manifest unknown: manifest unknown',
  },
  {
    id: 'unauthorized',
    title: 'Registry login missing or rejected',
    patterns: [/unauthorized: authentication required/i, /\bUNAUTHORIZED\b/, /401 Unauthorized/i, /unauthorized: incorrect username or password/i],
    cause: 'The registry asked for a login and got none or a wrong one: an expired token or ECR login, a revoked API token, or a credential for another registry.',
    fix: 'Log in again (Berth: docker login HOST -u USER with an API token from berth tokens create; ECR: aws ecr get-login-password | docker login -u AWS --password-stdin HOST). For a pull-through cache, re-store the upstream login; berth doctor checks every rule\'s upstream.',
    sample: 'Error response from daemon: Head "https://127.0.0.1:8080/v2/lab/app/manifests/1.0": unauthorized: authentication required',
  },
  {
    id: 'denied',
    title: 'Access to the repository denied',
    patterns: [/denied: requested access to the resource is denied/i, /\bDENIED\b/, /AccessDeniedException/],
    cause: 'The login works but may not do this: push needs the maintain role in the repository\'s workspace; pulling another workspace\'s repository needs a repository policy letting it; an explicit Deny in a policy wins over everything.',
    fix: 'Give the role (berth members set WORKSPACE USER maintain) or grant through the repository policy: berth grant WORKSPACE/REPOSITORY --principal OTHER_WORKSPACE --actions pull   (push: --actions push). berth registry policy get REPOSITORY shows the current policy.',
    sample: 'denied: requested access to the resource is denied',
  },
  {
    id: 'x509-unknown-authority',
    title: 'Registry TLS certificate not trusted',
    patterns: [/x509: certificate signed by unknown authority/i, /certificate verify failed/i, /unable to get local issuer certificate/i, /SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE/, /x509: certificate is valid for/i],
    cause: 'The registry presents a certificate the client does not trust: a private CA, a self-signed certificate, or a TLS-inspecting proxy in between (or a certificate for another name).',
    fix: 'Trust the CA where the pull runs (docker: /etc/docker/certs.d/HOST/ca.crt; kubernetes: the node\'s containerd config; Node/Berth: NODE_EXTRA_CA_CERTS=/path/ca.pem), or put a certificate from a public CA on the registry. berth doctor checks the studio domain\'s certificate.',
    sample: 'Error response from daemon: Get "https://registry.internal:5000/v2/": x509: certificate signed by unknown authority',
  },
  {
    id: 'http-response-to-https-client',
    title: 'Plain-HTTP registry reached over HTTPS',
    patterns: [/server gave HTTP response to HTTPS client/i],
    cause: 'The registry speaks plain HTTP (Berth on 127.0.0.1:8080, a test registry), and the client insists on HTTPS.',
    fix: 'Serve the registry behind TLS (server.publicUrl https://…), or tell the client it is insecure: docker — "insecure-registries": ["HOST:PORT"] in /etc/docker/daemon.json and restart dockerd; skopeo/podman/buildah — --tls-verify=false; containerd — a hosts.toml with the http:// server. Loopback (127.0.0.1) is insecure-allowed by docker already.',
    sample: 'Error response from daemon: Get "https://192.168.1.20:8080/v2/": http: server gave HTTP response to HTTPS client',
  },
  {
    id: 'unsupported-upstream',
    title: 'Unsupported pull-through upstream',
    patterns: [/UnsupportedUpstreamRegistryException/, /Unsupported upstream registry/i],
    cause: 'The pull-through cache rule names an upstream kind that is not supported, or an upstream URL that is not https/http.',
    fix: 'Use a preset (docker-hub, quay, ecr-public, github-container-registry, k8s, gitlab-container-registry) or any OCI registry URL: berth registry cache-rules create PREFIX https://registry.example.org',
    sample: 'An error occurred (UnsupportedUpstreamRegistryException) when calling the CreatePullThroughCacheRule operation: Unsupported upstream registry \'harbor\'',
  },
  {
    id: 'pull-through-rule-not-found',
    title: 'No pull-through cache rule for that prefix',
    patterns: [/PullThroughCacheRuleNotFoundException/, /pull through cache rule with prefix '(?<prefix>[^']+)' does not exist/i],
    cause: 'The image path starts with a prefix no pull-through cache rule has in this workspace (registry): a typo, another workspace, or the rule was deleted.',
    fix: (g) => `List the rules: berth registry cache-rules list --workspace WORKSPACE\nCreate it: berth registry cache-rules create ${g.prefix ?? 'PREFIX'} UPSTREAM --workspace WORKSPACE`,
    sample: 'An error occurred (PullThroughCacheRuleNotFoundException) when calling the DescribePullThroughCacheRules operation: The pull through cache rule with prefix \'hub\' does not exist in the registry with id \'123456789012\'',
  },
  {
    id: 'secret-not-found',
    title: 'Pull-through credential missing',
    patterns: [/SecretNotFoundException/],
    cause: 'The pull-through cache rule logs in upstream with a credential (credentialArn) that does not exist in the workspace.',
    fix: 'Re-create the rule with a login: berth registry cache-rules delete PREFIX && berth registry cache-rules create PREFIX UPSTREAM --username USER < token.txt',
    sample: 'An error occurred (SecretNotFoundException) when calling the CreatePullThroughCacheRule operation: The secret ecr-pullthroughcache/hub does not exist',
  },
  {
    id: 'repository-not-found',
    title: 'Repository does not exist',
    patterns: [/RepositoryNotFoundException/, /The repository with name '(?<repository>[^']+)' does not exist/i, /NAME_UNKNOWN/],
    cause: 'No repository of that name in the registry (workspace) addressed: a typo, another workspace (--registry-id), or not pushed yet. Berth creates a repository on first push; ECR does not (unless a creation template applies).',
    fix: (g) => `berth registry repos list --workspace WORKSPACE   to see the names; create it: aws ecr create-repository --repository-name ${g.repository ?? 'NAME'} --endpoint-url http://HOST/ecr --region REGION   (or berth registry repos create ${g.repository ?? 'NAME'})`,
    sample: "An error occurred (RepositoryNotFoundException) when calling the DescribeImages operation: The repository with name 'tools/samtools' does not exist in the registry with id '123456789012'",
  },
  {
    id: 'healthomics-ecr-permission',
    title: 'HealthOmics may not pull the image',
    patterns: [/ECR_PERMISSION_ERROR/, /HealthOmics doesn't have permission to access the image/i, /doesn't have permission to access the image URI/i],
    cause: 'HealthOmics pulls workflow images as the service principal omics.amazonaws.com: the private repository must exist in the run\'s region and its repository policy must let that principal pull (pull-through repositories too, through a creation template).',
    fix: 'Grant HealthOmics on the repository: berth grant REPOSITORY --principal omics.amazonaws.com --actions pull   (statement: {"Sid":"HealthOmicsPull","Effect":"Allow","Principal":{"Service":"omics.amazonaws.com"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"]}); check the image exists in the run\'s region: berth check IMAGE.',
    sample: 'Run failed: ECR_PERMISSION_ERROR: HealthOmics doesn\'t have permission to access the image URI 123456789012.dkr.ecr.us-east-1.amazonaws.com/tools/samtools:1.19',
  },
  {
    id: 'exec-format-error',
    title: 'Image built for another platform',
    patterns: [/exec format error/i, /no matching manifest for (?<platform>[^\s]+) in the manifest list/i, /image's platform \((?<imagePlatform>[^)]+)\) does not match the detected host platform/i],
    cause: 'The image (or a binary in it) is for another CPU architecture than the host: an arm64 image on amd64 (or the reverse), or a multi-platform index without the host\'s platform.',
    fix: 'Check the platforms: berth check IMAGE   then build or copy the right one (docker buildx build --platform linux/amd64,linux/arm64 …; berth clone keeps multi-platform indexes whole), or run on a compute environment of the image\'s architecture.',
    sample: 'exec /usr/local/bin/python: exec format error',
  },
  {
    id: 'oom-killed',
    title: 'Killed for using too much memory',
    patterns: [/OOMKilled/, /exit code:? 137\b/i, /Out of memory: Killed process/i],
    cause: 'The container used more memory than its limit and the kernel killed it (exit code 137 = SIGKILL).',
    fix: 'Give the studio more memory (PUT /api/studios/ID {"configuration":{"memory": MiB}}, berth studios add … --memory MiB), or make the tool use less; for a workflow task raise its memory directive.',
    sample: 'Last State: Terminated\n  Reason: OOMKilled\n  Exit Code: 137',
  },
  {
    id: 'cannot-pull-image-manifest',
    title: 'Compute could not fetch the image manifest',
    patterns: [/CannotPullImageManifestError/],
    cause: 'The compute service (AWS Batch/ECS behind a Seqera compute environment, or a studio) could not read the image manifest: a wrong tag, a registry it may not pull from (another account without a repository policy), a registry in another region without network access, or rate limits.',
    fix: 'Run berth doctor --workspace WORKSPACE: it checks the container repository, push and pull credentials, the repository policy for the compute environments (and prints the statement to add), and regions. berth check IMAGE says whether the tag exists.',
    sample: 'CannotPullImageManifestError: Error response from daemon: manifest for 123456789012.dkr.ecr.eu-west-2.amazonaws.com/studios/jupyter:6.5.7-0.1.0 not found',
  },
  {
    id: 'cannot-pull-container',
    title: 'Compute could not pull the image',
    patterns: [/CannotPullContainerError/],
    cause: 'The container runtime could not download the image. The text after the error name says why: no login, access denied, tag not found, rate limits, or no network route to the registry.',
    fix: 'Read the reason after CannotPullContainerError (explain it again with just that part), then run berth doctor --workspace WORKSPACE and berth check IMAGE.',
    sample: 'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "registry.example.org/lab/app:1.0": failed to do request: Head "https://registry.example.org/v2/lab/app/manifests/1.0": dial tcp 10.0.3.17:443: i/o timeout',
  },
  {
    id: 'image-pull-backoff',
    title: 'Kubernetes cannot pull the image',
    patterns: [/ImagePullBackOff/, /ErrImagePull/, /Back-off pulling image/i],
    cause: 'The kubelet failed to pull the pod\'s image and retries with a growing delay. The pod\'s events say why: tag not found, no pull secret for a private registry, access denied, or rate limits.',
    fix: 'kubectl describe pod POD -n NAMESPACE   shows the first "Failed to pull image" event: explain that line. Berth gives session pods a pull secret for its own registry only: images elsewhere need a pull secret on the namespace\'s service account. berth doctor checks pull access per compute environment.',
    sample: 'Warning  Failed     12s   kubelet  Failed to pull image "registry.example.org/lab/studios/app:1.0": rpc error: code = Unknown desc = failed to pull and unpack image\n  Warning  Failed  12s  kubelet  Error: ErrImagePull\n  Normal  BackOff  1s  kubelet  Back-off pulling image "registry.example.org/lab/studios/app:1.0"\n  Warning  Failed  1s  kubelet  Error: ImagePullBackOff',
  },
  {
    id: 'agent-version',
    title: 'Session agent (connect-client) not supported',
    patterns: [/connect-client/i, /(?:agent|connect) version [^\n]*(?:not supported|unsupported|incompatible)/i, /unsupported (?:session )?agent version/i],
    cause: 'The studio image carries a session agent (Seqera: connect-client) this server does not speak to: a template version `<tool>-<agent>` older or newer than the agent the server supports, or an image without the agent.',
    fix: 'Use a template version whose agent part matches this Berth (berth doctor lists unsupported template versions; berth agent --version shows the agent Berth ships), or let Berth mount its own agent: run the image on a docker or kubernetes compute environment (Berth bind-mounts the agent kit).',
    sample: 'ERROR connect-client: version 0.7.2 is not supported by this server (minimum 0.8.0)',
  },
  {
    id: 'studios-disabled',
    title: 'Studios not enabled for the workspace',
    patterns: [/STUDIOS_DISABLED/, /Studios are not enabled for workspace/i],
    cause: 'studios.allowedWorkspaces in Berth\'s configuration leaves the workspace out ([] disables Studios everywhere).',
    fix: 'Add the workspace to studios.allowedWorkspaces (or set it to null for all) in the configuration file and restart Berth.',
    sample: 'STUDIOS_DISABLED: Studios are not enabled for workspace "lab": add it to studios.allowedWorkspaces',
  },
  {
    id: 'compute-env-unavailable',
    title: 'Compute environment not available',
    patterns: [/compute environment (?<env>[^\s]+) is not available/i, /Docker daemon unreachable/i, /Cannot connect to the Docker daemon/i],
    cause: 'Sessions cannot start on an INVALID compute environment: its engine or cluster does not answer (a Docker socket that does not exist, a cluster token that expired), or its credential was deleted.',
    fix: (g) => `Fix the engine or cluster, then: berth compute-envs check ${g.env ?? 'NAME'} --workspace WORKSPACE   (or remove it: berth compute-envs delete ${g.env ?? 'NAME'}). berth doctor shows each environment's reason.`,
    sample: 'compute environment docker is not available: Docker daemon unreachable at /var/run/docker.sock (connect ENOENT /var/run/docker.sock)',
  },
  {
    id: 'host-not-found',
    title: 'Host name does not resolve',
    patterns: [/no such host/i, /ENOTFOUND/, /getaddrinfo .*(?:ENOTFOUND|EAI_AGAIN)/, /Could not resolve host/i],
    cause: 'A host name does not resolve: a typo in a registry host, no DNS in the network where the pull runs, or (for studio URLs) no wildcard DNS record for the studio domain.',
    fix: 'Check the name (dig HOST). For studio URLs add the record *.STUDIO_DOMAIN → Berth, or turn on path routing (connect.pathRouting: true); berth doctor checks it.',
    sample: 'dial tcp: lookup registry.example.invalid on 127.0.0.53:53: no such host',
  },
];
