import assert from 'node:assert/strict'
import { afterEach, beforeEach, describe, it } from 'node:test'
import { createDirectoryOperations, InvalidInputError, LinkRefusedError, NotFoundError } from '../../src/directory/index.ts'
import type { DirectoryOperations } from '../../src/directory/index.ts'
import { createSqliteStore } from '../../src/store/index.ts'
import type { Store } from '../../src/store/index.ts'

const PUBLIC_URL = 'https://app.example.com'
let store: Store
let now: number
let directory: DirectoryOperations
beforeEach(async () => {
  store = await createSqliteStore(':memory:')
  now = 1_767_225_600
  directory = createDirectoryOperations({
    store,
    now: () => now,
    signIn: { publicUrl: PUBLIC_URL, redirectOrigins: new Set([PUBLIC_URL, 'https://docs.example.com']) },
  })
})
afterEach(() => store.close())

const secretOf = (url: string) => url.slice(url.lastIndexOf('/') + 1)
const refused = (reason: string) => (err: unknown) => err instanceof LinkRefusedError && err.reason === reason

describe('magic links in the directory', () => {
  it('expire after expires_in_hours: refused one second after, accepted one second before', async () => {
    await directory.users.create({ email: 'a@example.com' })
    const early = secretOf((await directory.magicLinks.create({ email: 'a@example.com', expires_in_hours: 1 })).url)
    const late = secretOf((await directory.magicLinks.create({ email: 'a@example.com', expires_in_hours: 1 })).url)
    now += 3599
    assert.equal((await directory.magicLinks.follow(early)).user.email, 'a@example.com')
    now += 2
    await assert.rejects(directory.magicLinks.follow(late), refused('used_or_expired'))
    await assert.rejects(directory.magicLinks.follow('unknown-secret'), refused('unknown'))
  })

  it('stores only the secret’s hash; two concurrent follows of one link sign in once', async () => {
    await directory.users.create({ email: 'b@example.com' })
    const secret = secretOf((await directory.magicLinks.create({ email: 'b@example.com' })).url)
    const results = await Promise.allSettled([directory.magicLinks.follow(secret), directory.magicLinks.follow(secret)])
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected'])
  })

  it('refuses without a public URL, an out-of-range expiry, and a redirect off the allow-list', async () => {
    const off = createDirectoryOperations({ store })
    await assert.rejects(off.magicLinks.create({ email: 'c@example.com' }), NotFoundError)
    const field = (name: string) => (err: unknown) => err instanceof InvalidInputError && err.field === name
    await assert.rejects(directory.magicLinks.create({ email: 'c@example.com', expires_in_hours: 0 }), field('expires_in_hours'))
    await assert.rejects(
      directory.magicLinks.create({ email: 'c@example.com', redirect_to_url: 'https://evil.example' }),
      field('redirect_to_url'),
    )
    assert.equal(await store.getUserByEmail('c@example.com'), undefined, 'a refused link creates no user')
    const ok = await directory.magicLinks.create({ email: 'c@example.com', redirect_to_url: 'https://docs.example.com/start' })
    assert.equal((await directory.magicLinks.follow(secretOf(ok.url))).redirectTo, 'https://docs.example.com/start')
  })
})
