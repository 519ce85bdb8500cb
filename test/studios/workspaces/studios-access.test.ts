import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { studiosSchema } from '../../../src/config/schema.ts';
import { StudiosAccess, StudiosDisabledError } from '../../../src/studios/workspaces/studios-access.ts';

const lab = { id: '4f6c1d0e-9a51-4a36-8d0e-3f1a2b3c4d5e', slug: 'lab' };
const other = { id: '0a1b2c3d-0000-4000-8000-000000000000', slug: 'other' };

describe('StudiosAccess (studios.allowedWorkspaces)', () => {
  it('allows no workspace when the setting is left at its default, []', () => {
    const access = new StudiosAccess(studiosSchema.parse({}));
    assert.equal(access.allows(lab), false);
    assert.throws(() => access.require(lab), StudiosDisabledError);
  });

  it('allows the listed workspaces, named by slug or by id, and no others', () => {
    const bySlug = new StudiosAccess({ allowedWorkspaces: ['lab'] });
    const byId = new StudiosAccess({ allowedWorkspaces: [lab.id] });
    for (const access of [bySlug, byId]) {
      assert.equal(access.allows(lab), true);
      assert.equal(access.allows(other), false);
      assert.doesNotThrow(() => access.require(lab));
    }
  });

  it('allows every workspace when the setting is null', () => {
    const access = new StudiosAccess({ allowedWorkspaces: null });
    assert.equal(access.allows(lab), true);
    assert.equal(access.allows(other), true);
  });

  it('refuses with STUDIOS_DISABLED (403 in the API), naming the workspace and the setting to change', () => {
    const access = new StudiosAccess({ allowedWorkspaces: ['lab'] });
    assert.throws(
      () => access.require(other),
      (error: unknown) =>
        error instanceof StudiosDisabledError &&
        error.code === 'STUDIOS_DISABLED' &&
        error.message === 'Studios are not enabled for workspace "other": add it to studios.allowedWorkspaces',
    );
  });
});
