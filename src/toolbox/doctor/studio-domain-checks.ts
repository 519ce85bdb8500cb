import { randomBytes } from 'node:crypto';
import { checkOf, type DoctorCheck } from './doctor-check.ts';
import type { DoctorDeps } from './doctor-deps.ts';

/**
 * How browsers reach sessions: under subdomain routing `<sessionId>.<studioDomain>` must resolve
 * (wildcard DNS; `*.localhost` is loopback by definition), and when Berth is served over https the
 * certificate must cover those names. Path routing needs neither.
 */
export async function studioDomainChecks(deps: DoctorDeps): Promise<DoctorCheck[]> {
  const { studioDomain, pathRouting, publicUrl } = deps.routing;
  const dns = checkOf('studio-domain', 'Studio URLs resolve (wildcard DNS, or path routing)', 'error');
  const tls = checkOf('studio-tls', 'TLS certificate for studio URLs', 'error');
  const https = publicUrl !== undefined && new URL(publicUrl).protocol === 'https:';
  const publicHost = publicUrl === undefined ? undefined : new URL(publicUrl);
  const port = publicHost?.port ? Number(publicHost.port) : 443;

  if (pathRouting) {
    const dnsResult = dns.pass('path routing is on: sessions are reached at <Berth URL>/_studio/<sessionId>/, no wildcard DNS needed');
    if (!https) return [dnsResult, tls.skip('Berth is not served over https (server.publicUrl)')];
    return [dnsResult, await tlsProbe(deps, tls, publicHost!.hostname, port, publicHost!.hostname, `a certificate for ${publicHost!.hostname}`)];
  }

  const probeName = `doctor-${randomBytes(4).toString('hex')}.${studioDomain}`;
  if (studioDomain === 'localhost' || studioDomain.endsWith('.localhost')) {
    const dnsResult = dns.pass(`*.${studioDomain} is loopback by definition: fine for a Berth used on this machine; others need a real domain`);
    return [dnsResult, https ? tls.skip(`*.${studioDomain} is not served over https`) : tls.skip('Berth is not served over https (server.publicUrl)')];
  }
  let address: string;
  try {
    address = await deps.lookupHost(probeName);
  } catch (error) {
    const target = publicHost?.hostname ?? 'BERTH_HOST';
    return [
      dns.problem(
        `${probeName} does not resolve (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): studio URLs <sessionId>.${studioDomain} need a wildcard DNS record`,
        `add the DNS record:  *.${studioDomain}.  IN CNAME  ${target}.\nor reach studios by path instead (configuration):  connect:\n  pathRouting: true`,
      ),
      tls.skip('studio URLs do not resolve (see studio-domain)'),
    ];
  }
  const dnsResult = dns.pass(`*.${studioDomain} resolves (${probeName} → ${address})`);
  if (!https) return [dnsResult, tls.skip('Berth is not served over https (server.publicUrl)')];
  return [dnsResult, await tlsProbe(deps, tls, address, port, probeName, `a wildcard certificate for *.${studioDomain}`)];
}

async function tlsProbe(deps: DoctorDeps, check: ReturnType<typeof checkOf>, host: string, port: number, servername: string, needed: string): Promise<DoctorCheck> {
  try {
    await deps.probeTls(host, port, servername);
    return check.pass(`${servername}:${port} presents a valid certificate`);
  } catch (error) {
    return check.problem(`TLS to ${servername}:${port} fails: ${(error as Error).message}`, `install ${needed} on the server or proxy that terminates TLS for ${servername}`);
  }
}
