import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import * as argon2 from '@node-rs/argon2'
import bcrypt from 'bcryptjs'
import { ARGON2ID_PARAMETERS, InvalidInputError, LoginRefusedError, createDirectoryOperations } from '../../src/directory/index.ts'
import type { DirectoryOperations } from '../../src/directory/index.ts'
import { createSqliteStore } from '../../src/store/index.ts'
import type { Store } from '../../src/store/index.ts'

let store: Store
let directory: DirectoryOperations
beforeEach(async () => {
  store = await createSqliteStore(':memory:')
  directory = createDirectoryOperations({ store })
})
afterEach(() => store.close())

const refusedFor = (reason: string) => (err: unknown) => err instanceof LoginRefusedError && err.reason === reason
const storedHash = async (email: string) => (await store.getPasswordHashByEmail(email))?.password_hash

describe('passwords in the directory', () => {
  it('hashes with Argon2id at the OWASP parameters, recorded in the PHC string', async () => {
    await directory.users.create({ email: 'ada@example.com', password: 'correct horse battery' })
    const hash = await storedHash('ada@example.com')
    assert.match(hash ?? '', /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
    assert.deepEqual(ARGON2ID_PARAMETERS, { memoryCost: 19456, timeCost: 2, parallelism: 1 })
  })

  it('signs in with the right password; refuses a wrong one, an unknown email, a user without password, a disabled user', async () => {
    const user = await directory.users.create({ email: 'Ada@Example.com', password: 'correct horse battery' })
    assert.equal((await directory.users.checkPassword('ada@EXAMPLE.com', 'correct horse battery')).user_id, user.user_id)
    await assert.rejects(directory.users.checkPassword('ada@example.com', 'wrong horse battery'), refusedFor('wrong_password'))
    await assert.rejects(directory.users.checkPassword('nobody@example.com', 'correct horse battery'), refusedFor('unknown_email'))
    await directory.users.create({ email: 'nopw@example.com' })
    await assert.rejects(directory.users.checkPassword('nopw@example.com', 'correct horse battery'), refusedFor('no_password'))
    await directory.users.update(user.user_id, { enabled: false })
    await assert.rejects(directory.users.checkPassword('ada@example.com', 'correct horse battery'), refusedFor('disabled'))
    // Every refusal has the one message the login endpoint shows.
    await assert.rejects(directory.users.checkPassword('ada@example.com', 'x'), { message: 'invalid email or password' })
  })

  for (const version of ['2a', '2b', '2y'] as const) {
    it(`verifies an imported bcrypt $${version}$ hash as given, then rehashes it to Argon2id at the first login`, async () => {
      // $2a$, $2b$ and $2y$ differ only in how old implementations treated non-ASCII or over-long
      // input; for this password they are one hash under three names.
      const imported = (await bcrypt.hash('legacy password', 4)).replace(/^\$2b\$/, `$${version}$`)
      assert.ok(imported.startsWith(`$${version}$`))
      await directory.users.create({ email: 'old@example.com', existing_password_hash: imported })
      await assert.rejects(directory.users.checkPassword('old@example.com', 'not it at all'), refusedFor('wrong_password'))
      assert.equal(await storedHash('old@example.com'), imported, 'a failed login does not rehash')
      await directory.users.checkPassword('old@example.com', 'legacy password')
      const rehashed = await storedHash('old@example.com')
      assert.match(rehashed ?? '', /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/)
      await directory.users.checkPassword('old@example.com', 'legacy password')
      assert.equal(await storedHash('old@example.com'), rehashed, 'a current hash is kept')
    })
  }

  it('raises an imported argon2id hash with weaker parameters, keeps a stronger one', async () => {
    const weak = await argon2.hash('weak params here', { memoryCost: 4096, timeCost: 1, parallelism: 1 })
    const strong = await argon2.hash('strong params here', { memoryCost: 32768, timeCost: 3, parallelism: 1 })
    const a = await directory.users.create({ email: 'weak@example.com', existing_password_hash: weak })
    await directory.users.importPasswordHash((await directory.users.create({ email: 'strong@example.com' })).user_id, strong)
    await directory.users.checkPassword('weak@example.com', 'weak params here')
    await directory.users.checkPassword('strong@example.com', 'strong params here')
    assert.match((await storedHash('weak@example.com')) ?? '', /m=19456,t=2,p=1/)
    assert.equal(await storedHash('strong@example.com'), strong)
    assert.equal((await directory.users.get(a.user_id)).has_password, true)
  })

  it('refuses a password outside 8..1024 characters, both a password and a hash, and hashes it cannot verify', async () => {
    const field = (name: string) => (err: unknown) => err instanceof InvalidInputError && err.field === name
    await assert.rejects(directory.users.create({ email: 'a@example.com', password: 'seven77' }), field('password'))
    await assert.rejects(directory.users.create({ email: 'a@example.com', password: 'x'.repeat(1025) }), field('password'))
    const both = { email: 'a@example.com', password: 'long enough', existing_password_hash: '$2b$04$abc' }
    await assert.rejects(directory.users.create(both), field('existing_password_hash'))
    for (const hash of ['$2b$04$short', '$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2g', 'sha1:abc', '']) {
      await assert.rejects(
        directory.users.create({ email: 'a@example.com', existing_password_hash: hash }),
        field('existing_password_hash'),
      )
    }
    assert.equal(await store.getUserByEmail('a@example.com'), undefined)
  })

  it('set, replace and clear; update_password_required follows the ask flag', async () => {
    const user = await directory.users.create({ email: 'set@example.com' })
    const set = await directory.users.setPassword(user.user_id, 'first password', true)
    assert.deepEqual([set.has_password, set.update_password_required], [true, true])
    await directory.users.setPassword(user.user_id, 'second password')
    await assert.rejects(directory.users.checkPassword('set@example.com', 'first password'), refusedFor('wrong_password'))
    assert.equal((await directory.users.checkPassword('set@example.com', 'second password')).update_password_required, true)
    const cleared = await directory.users.clearPassword(user.user_id)
    assert.deepEqual([cleared.has_password, cleared.update_password_required], [false, false])
    await assert.rejects(directory.users.checkPassword('set@example.com', 'second password'), refusedFor('no_password'))
  })
})
