import { z } from 'zod';
import type { RegistryTokens } from '../../auth/registry-tokens.ts';
import { ecrLoginUser } from '../../auth/logins.ts';
import { epochSeconds, parseInput, type EcrOperations } from '../operation-kit.ts';

/**
 * GetAuthorizationToken: base64 of `AWS:<password>`, the password a signed login token valid for
 * `ttlS` (12 h by default) that docker, podman and skopeo use as user `AWS`. It ends early when
 * the access key (or API token) it came from is deleted.
 */
export function authorizationOperations(tokens: RegistryTokens, ttlS: number, publicUrl?: string): EcrOperations {
  const scheme = publicUrl?.startsWith('https:') ? 'https' : 'http';
  return {
    async GetAuthorizationToken(input, caller) {
      parseInput(z.object({ registryIds: z.array(z.string().regex(/^[0-9]{12}$/)).min(1).max(10).optional() }).strict(), input);
      const password = await tokens.issueEcrLogin({ userId: caller.user.id, credential: caller.credential }, caller.user.name, ttlS);
      return {
        authorizationData: [
          {
            authorizationToken: Buffer.from(`${ecrLoginUser}:${password}`).toString('base64'),
            expiresAt: epochSeconds(Date.now() + ttlS * 1000),
            proxyEndpoint: `${scheme}://${caller.host}`,
          },
        ],
      };
    },
  };
}
