import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConnectSessions } from '../../src/connect/connect-sessions.ts';
import { IdentityStore, type User, type Workspace } from '../../src/identity/identity-store.ts';
import { databaseKinds, type TestDatabase } from '../support/databases.ts';

for (const { kind, open } of databaseKinds) {
  describe(`ConnectSessions.revokeAgentToken (${kind})`, () => {
    let database: TestDatabase;
    let sessions: ConnectSessions;
    let owner: User;
    let workspace: Workspace;

    before(async () => {
      database = await open();
      const identity = new IdentityStore(database.opened.db);
      sessions = new ConnectSessions(database.opened.db, identity);
      owner = await identity.createUser({ name: 'revoker' });
      workspace = await identity.requireWorkspace('revoker');
    });
    after(() => database?.cleanup());

    it('ends the token, and records a run whose agent never said so as stopped', async () => {
      const { session, agentToken } = await sessions.create({ workspace, user: owner, isPrivate: false });
      await sessions.recordStatus(session.id, 'running', null);
      await sessions.revokeAgentToken(session.id);
      assert.equal(await sessions.authenticateAgent(session.id, agentToken), undefined);
      const revoked = await sessions.require(session.id);
      assert.equal(revoked.agentStatus, 'stopped');
      assert.ok(revoked.statusAt >= session.statusAt);
    });

    it('keeps the exit code and the time of a run its agent reported stopped', async () => {
      const { session } = await sessions.create({ workspace, user: owner, isPrivate: false });
      await sessions.recordStatus(session.id, 'stopped', 3);
      const reported = await sessions.require(session.id);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await sessions.revokeAgentToken(session.id);
      const revoked = await sessions.require(session.id);
      assert.equal(revoked.agentStatus, 'stopped');
      assert.equal(revoked.exitCode, 3);
      assert.equal(revoked.statusAt, reported.statusAt);
    });
  });
}
