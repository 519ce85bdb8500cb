// The toolbox API's boundaries: the Host header never chooses where Berth fetches from, workspaces named in
// the body or the query are checked, grants keep others' statements, and bad bodies are 400s.
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../support/containers.ts';
import { ociReference, writeOciLayout } from '../support/oci-image.ts';

/** POST with a chosen Host header (fetch will not send one). */
function postWithHost(url: string, path: string, host: string, token: string, body: unknown): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: target.hostname, port: target.port, path, method: 'POST', headers: { Host: host, Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('the toolbox API: who may do what, and where Berth sends requests', () => {
  let berth: TestBerth;
  let scratch: string;
  let bob: string;
  let elsewhere: Server;
  const seen: Array<{ url: string; headers: IncomingHttpHeaders }> = [];
  let elsewherePort = 0;

  before(async () => {
    berth = await startBerth();
    scratch = await scratchDir('review7');
    const single = await writeOciLayout({ dir: join(scratch, 'single'), layers: 1, layerBytes: 512, platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), ociReference(single), `docker://${berth.host}/admin/tools/single:1`]);
    bob = await berth.user('bob');
    elsewhere = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      // a registry that asks for Basic auth: the client then sends the login it holds
      if (!req.headers.authorization) res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="elsewhere"' }).end();
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    elsewherePort = (elsewhere.address() as { port: number }).port;
  });
  after(async () => {
    await berth?.close();
    await new Promise((resolve) => elsewhere?.close(resolve));
    await removeDir(scratch);
  });

  it('check does not make Berth send requests (with the caller\'s registry login) to the host named in the request\'s Host header', async () => {
    const answer = await postWithHost(berth.url, '/api/toolbox/check', `127.0.0.1:${elsewherePort}`, berth.adminToken, { repositoryName: 'tools/single', imageTag: '1' });
    assert.equal(answer.status, 200, answer.text);
    assert.deepEqual(
      seen.map((r) => `${r.url} auth=${r.headers.authorization ? 'yes' : 'no'}`),
      [],
      'Berth fetched from the Host-header-chosen server (server-side request forgery)',
    );
  });

  it('a workspace named in the body that does not exist is a 4xx, not a 500', async () => {
    const answer = await berth.api('POST', '/api/toolbox/grant', { repositoryName: 'tools/single', principal: '123456789012', workspace: 'no-such-ws' });
    assert.ok(answer.status >= 400 && answer.status < 500, `status ${answer.status}: ${JSON.stringify(answer.body)}`);
  });

  it('a non-member cannot grant in another workspace by naming it in the body', async () => {
    const answer = await berth.api('POST', '/api/toolbox/grant', { repositoryName: 'tools/single', principal: 'bob', workspace: 'admin' }, bob);
    assert.equal(answer.status, 403, JSON.stringify(answer.body));
  });

  it('a non-member cannot grant in another workspace by naming it in ?workspace=', async () => {
    const answer = await berth.api('POST', '/api/toolbox/grant?workspace=admin', { repositoryName: 'tools/single', principal: 'bob' }, bob);
    assert.equal(answer.status, 403, JSON.stringify(answer.body));
  });

  it('a non-member cannot run the doctor on another workspace', async () => {
    const answer = await berth.api('POST', '/api/toolbox/doctor', { workspace: 'admin' }, bob);
    assert.equal(answer.status, 403, JSON.stringify(answer.body));
  });

  it('grant keeps other principals\' statements and Denies, replaces only the same principal', async () => {
    const policy = {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Other', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:root' }, Action: ['ecr:BatchGetImage'] },
        { Sid: 'OldMine', Effect: 'Allow', Principal: { AWS: '222222222222' }, Action: ['ecr:BatchGetImage'] },
        { Sid: 'NoDelete', Effect: 'Deny', Principal: { AWS: 'arn:aws:iam::222222222222:root' }, Action: ['ecr:DeleteRepository'] },
      ],
    };
    const set = await berth.api('POST', '/api/toolbox/grant', { repositoryName: 'tools/single', principal: '111111111111' });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    // now write our own starting policy through the ECR face via the toolbox's grant for 222… then check
    const first = await berth.api<{ policy: { Statement: Array<{ Sid?: string }> } }>('POST', '/api/toolbox/grant', { repositoryName: 'tools/single', principal: '222222222222', actions: 'push' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const again = await berth.api<{ policy: { Statement: Array<{ Sid?: string }> }; replaced: string[] }>('POST', '/api/toolbox/grant', { repositoryName: 'tools/single', principal: 'arn:aws:iam::222222222222:root', actions: 'pull' });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.policy.Statement.length, 2, JSON.stringify(again.body.policy));
    void policy;
  });

  it('explain rejects an empty text with 400', async () => {
    const answer = await berth.api('POST', '/api/toolbox/doctor/explain', { text: '' });
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
  });

  it('an unknown field / wrong type in the body is a 400', async () => {
    const answer = await berth.api('POST', '/api/toolbox/check', { repositoryName: 5 });
    assert.equal(answer.status, 400, JSON.stringify(answer.body));
  });
});
