import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { createDirectoryOperations, NotPermittedError } from '../../src/directory/index.ts'
import type { DirectoryOperations } from '../../src/directory/index.ts'
import { createRoleTable } from '../../src/identity/index.ts'
import { createSqliteStore } from '../../src/store/index.ts'
import type { Store } from '../../src/store/index.ts'

const PERMISSION = 'can_manage_api_keys'
const ROLES = createRoleTable([
  { name: 'Owner', permissions: [] },
  { name: 'Admin', permissions: [PERMISSION] },
  { name: 'Member', permissions: [] },
])

let store: Store
let directory: DirectoryOperations
beforeEach(async () => {
  store = await createSqliteStore(':memory:')
  directory = createDirectoryOperations({ store, roles: ROLES })
})
afterEach(() => store.close())

const notPermitted = (err: unknown) => err instanceof NotPermittedError

describe("the directory's account keys: one ownership rule over create and archive", () => {
  it('lists personal keys and the keys of each org whose role has the permission, including through a higher role', async () => {
    const ada = await directory.users.create({ email: 'ada@example.com' })
    const managed = await directory.orgs.create({ name: 'Managed' })
    const owned = await directory.orgs.create({ name: 'Owned' })
    const member = await directory.orgs.create({ name: 'Member only' })
    await directory.orgs.addMember(managed.org_id, ada.user_id, 'Admin')
    await directory.orgs.addMember(owned.org_id, ada.user_id, 'Owner')
    await directory.orgs.addMember(member.org_id, ada.user_id, 'Member')
    await directory.apiKeys.create({ user_id: ada.user_id, name: 'mine' })
    await directory.apiKeys.create({ org_id: member.org_id, name: 'not shown' })
    const archived = await directory.apiKeys.create({ user_id: ada.user_id, name: 'archived' })
    await directory.apiKeys.archive(archived.key.api_key_id, null)

    const keys = await directory.accountKeys.list(ada.user_id, PERMISSION)
    assert.deepEqual(
      keys.personal.map((k) => k.name),
      ['mine'],
    )
    assert.deepEqual(keys.orgs.map((o) => o.org.name).sort(), ['Managed', 'Owned'], 'Owner inherits the permission of Admin below it')
  })

  it('creates org keys recording the creator only in managed orgs, and archives only what the user manages', async () => {
    const ada = await directory.users.create({ email: 'ada@example.com' })
    const bob = await directory.users.create({ email: 'bob@example.com' })
    const org = await directory.orgs.create({ name: 'Acme' })
    await directory.orgs.addMember(org.org_id, ada.user_id, 'Admin')
    await directory.orgs.addMember(org.org_id, bob.user_id, 'Member')

    const orgKey = await directory.accountKeys.create(ada.user_id, PERMISSION, { name: 'ci', org_id: org.org_id, expiration: 'one_month' })
    assert.deepEqual([orgKey.key.type, orgKey.key.org_id, orgKey.key.created_by], ['org', org.org_id, ada.user_id])
    await assert.rejects(directory.accountKeys.create(bob.user_id, PERMISSION, { name: 'x', org_id: org.org_id }), notPermitted)
    await assert.rejects(directory.accountKeys.archive(bob.user_id, PERMISSION, orgKey.key.api_key_id), notPermitted)

    const bobs = await directory.accountKeys.create(bob.user_id, PERMISSION, { name: 'bob own' })
    await assert.rejects(directory.accountKeys.archive(ada.user_id, PERMISSION, bobs.key.api_key_id), notPermitted)
    const generic = await directory.apiKeys.create({ name: 'generic' })
    await assert.rejects(directory.accountKeys.archive(ada.user_id, PERMISSION, generic.key.api_key_id), notPermitted)

    await directory.orgs.changeRole(org.org_id, ada.user_id, 'Member')
    await assert.rejects(
      directory.accountKeys.archive(ada.user_id, PERMISSION, orgKey.key.api_key_id),
      notPermitted,
      'the role is read now',
    )
    assert.equal((await directory.accountKeys.archive(bob.user_id, PERMISSION, bobs.key.api_key_id)).archived_at !== null, true)
  })
})
