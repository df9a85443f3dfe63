import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Sqlite from 'better-sqlite3'
import { StoreUnavailableError, createSqliteStore, openStore } from '../../src/store/index.ts'
import { describeStore } from './contract.ts'

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-store-'))
after(() => rmSync(dir, { recursive: true, force: true }))

let files = 0
/** A fresh database file per call, in a folder that does not exist yet. */
const freshFile = (): string => join(dir, `run-${++files}`, 'gatehouse.db')

describeStore('SQLite in memory', () => createSqliteStore(':memory:'))
describeStore('SQLite file', () => createSqliteStore(freshFile()))

describe('SQLite file store', () => {
  it('reports a lock held past busy_timeout as StoreUnavailableError, and works again once it is released', async () => {
    const file = freshFile()
    const store = await createSqliteStore(file, { busyTimeoutMs: 50 })
    const other = new Sqlite(file)
    try {
      other.exec('begin exclusive')
      await assert.rejects(store.createUser({ email: 'locked@example.com' }), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError)
        assert.equal((err.cause as { code?: string }).code, 'SQLITE_BUSY')
        return true
      })
      other.exec('rollback')
      assert.equal((await store.createUser({ email: 'locked@example.com' })).email, 'locked@example.com')
    } finally {
      other.close()
      await store.close()
    }
  })

  it('keeps what it wrote across a restart on the same file', async () => {
    const file = freshFile()
    const first = await createSqliteStore(file)
    const user = await first.createUser({ email: 'persist@example.com', username: 'persist', metadata: { a: [1] } })
    const org = await first.createOrg({ name: 'Durable', max_users: 5 })
    const membership = await first.addMember(org.org_id, user.user_id, 'Owner')
    const key = { kid: 'k1', alg: 'ES256', private_jwk: { kty: 'EC' }, created_at: 1 }
    await first.addSigningKey(key)
    const apiKey = await first.createApiKey({
      type: 'org',
      user_id: user.user_id,
      org_id: org.org_id,
      expires_at: 2_000_000_000,
      secret_hash: 'ab'.repeat(32),
      display: 'gh_ok_Xy',
      name: 'Durable key',
      metadata: { a: 1 },
      scopes: ['read'],
      protected: true,
    })
    await first.rotateApiKey(apiKey.api_key_id, { secret_hash: 'cd'.repeat(32), display: 'gh_ok_Zw' }, 2_000_000_000)
    await first.recordApiKeyUsage([{ api_key_id: apiKey.api_key_id, date: '2026-01-01', count: 3, last_used_at: 1_767_225_600 }])
    const storedKey = await first.getApiKey(apiKey.api_key_id)
    await first.close()

    const second = await createSqliteStore(file)
    try {
      assert.deepEqual(await second.getUserByEmail('PERSIST@example.com'), user)
      assert.deepEqual(await second.getOrg(org.org_id), org)
      assert.deepEqual(await second.listUserMemberships(user.user_id), [{ org, membership }])
      assert.deepEqual(await second.listSigningKeys(), [key])
      assert.deepEqual(await second.getApiKey(apiKey.api_key_id), storedKey)
      assert.equal((await second.findApiKeyBySecretHash('ab'.repeat(32), 1_900_000_000))?.api_key_id, apiKey.api_key_id)
      assert.equal(await second.apiKeyUsage({ date: '2026-01-01', org_id: org.org_id }), 3)
    } finally {
      await second.close()
    }
  })

  it('leaves the file in WAL mode with the schema migrated once', async () => {
    const file = freshFile()
    await (await createSqliteStore(file)).close()
    await (await createSqliteStore(file)).close()
    const raw = new Sqlite(file, { readonly: true })
    try {
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal')
      const applied = raw.prepare('select name from kysely_migration order by name').pluck().all()
      assert.deepEqual(applied, [
        '0001_directory',
        '0002_api_keys',
        '0003_subject_usage',
        '0004_org_can_setup_saml',
        '0005_user_passwords',
        '0006_magic_links',
        '0007_invites',
        '0008_key_lookup_indexes',
      ])
    } finally {
      raw.close()
    }
  })
})

describe('SQLite file modes (the store holds the token signing key)', () => {
  const modeOf = (file: string) => statSync(file).mode & 0o777

  it('creates its folder 0700 and the database, -wal and -shm 0600, even under a permissive umask', async () => {
    const file = freshFile()
    const previous = process.umask(0)
    try {
      const store = await createSqliteStore(file)
      try {
        await store.createUser({ email: 'modes@example.com' })
        assert.equal(modeOf(join(file, '..')), 0o700)
        for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal(modeOf(f), 0o600, f)
      } finally {
        await store.close()
      }
    } finally {
      process.umask(previous)
    }
  })

  it('tightens existing files readable by others to 0600 and says so', async () => {
    const file = freshFile()
    await (await createSqliteStore(file)).close()
    chmodSync(file, 0o644)
    writeFileSync(`${file}-wal`, '')
    chmodSync(`${file}-wal`, 0o664)
    const warnings: string[] = []
    const store = await createSqliteStore(file, { warn: (message) => warnings.push(message) })
    try {
      assert.equal(modeOf(file), 0o600)
      assert.equal(modeOf(`${file}-wal`), 0o600)
      assert.deepEqual(warnings, [
        `${file} was mode 0644 (readable beyond its owner); it holds the token signing key, so it is now 0600`,
        `${file}-wal was mode 0664 (readable beyond its owner); it holds the token signing key, so it is now 0600`,
      ])
    } finally {
      await store.close()
    }
  })

  it('leaves an existing folder and owner-only files as they are, without a warning', async () => {
    const folder = join(dir, 'shared-folder')
    mkdirSync(folder, { mode: 0o755 })
    chmodSync(folder, 0o755)
    const file = join(folder, 'gatehouse.db')
    await (await createSqliteStore(file)).close()
    const warnings: string[] = []
    await (await createSqliteStore(file, { warn: (message) => warnings.push(message) })).close()
    assert.equal(modeOf(folder), 0o755)
    assert.equal(modeOf(file), 0o600)
    assert.deepEqual(warnings, [])
  })
})

describe('openStore', () => {
  it('opens sqlite:PATH relative to the config folder, creating the folder', async () => {
    const base = join(dir, 'config-home')
    const store = await openStore('sqlite:./data/gatehouse.db', base)
    await store.close()
    assert.ok(existsSync(join(base, 'data', 'gatehouse.db')))
  })

  it('opens an absolute path as given', async () => {
    const file = freshFile()
    await (await openStore(`sqlite:${file}`, '/nonexistent')).close()
    assert.ok(existsSync(file))
  })

  it('opens a throwaway store for sqlite::memory:', async () => {
    const store = await openStore('sqlite::memory:', dir)
    try {
      await store.createUser({ email: 'm@example.com' })
      assert.equal((await store.queryUsers({ page_size: 1, page_number: 0, order_by: 'EMAIL' })).total, 1)
    } finally {
      await store.close()
    }
  })

  it('refuses any other scheme and an empty sqlite path', async () => {
    await assert.rejects(openStore('mysql://db', dir), /unsupported store url/)
    await assert.rejects(openStore('sqlite:', dir), /needs a path/)
  })
})
