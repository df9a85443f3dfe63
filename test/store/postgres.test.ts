import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { createPostgresStore, openStore } from '../../src/store/index.ts'
import { splitSchemaParameter } from '../../src/store/open.ts'
import type { Store } from '../../src/store/index.ts'
import { describeStore } from './contract.ts'

/**
 * The store contract on a real PostgreSQL server named by GATEHOUSE_TEST_POSTGRES_URL. Each store
 * gets a fresh random schema, dropped when the file's tests end. Without the variable (or with
 * the server unreachable) the suite is skipped with the reason, unless GATEHOUSE_REQUIRE_SERVICES=1
 * says the run must exercise every engine, in which case that is a failure.
 */
const url = process.env.GATEHOUSE_TEST_POSTGRES_URL
const required = process.env.GATEHOUSE_REQUIRE_SERVICES === '1'

async function probe(target: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: target, connectionTimeoutMillis: 5_000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('select 1')
    return undefined
  } catch (error) {
    return `PostgreSQL at GATEHOUSE_TEST_POSTGRES_URL is unreachable: ${error instanceof Error ? error.message : String(error)}`
  } finally {
    await client.end().catch(() => {})
  }
}

const unavailable = url === undefined || url === '' ? 'GATEHOUSE_TEST_POSTGRES_URL is not set' : await probe(url)

if (unavailable !== undefined) {
  if (required) {
    it('PostgreSQL is available (GATEHOUSE_REQUIRE_SERVICES=1)', () => assert.fail(unavailable))
  } else {
    describe('Store contract: PostgreSQL', { skip: unavailable }, () => {})
  }
} else {
  const serverUrl = url as string
  const schemas: string[] = []
  /** A new schema name, remembered for the cleanup below. */
  const freshSchema = (): string => {
    const schema = `gatehouse_test_${randomBytes(6).toString('hex')}`
    schemas.push(schema)
    return schema
  }

  after(async () => {
    const client = new pg.Client({ connectionString: serverUrl })
    await client.connect()
    try {
      for (const schema of schemas) await client.query(`drop schema if exists "${schema}" cascade`)
    } finally {
      await client.end()
    }
  })

  describeStore('PostgreSQL', () => createPostgresStore(serverUrl, { schema: freshSchema(), poolSize: 4 }))

  describe('PostgreSQL store', () => {
    it('migrates once when two stores open a fresh schema at the same time', async () => {
      const schema = freshSchema()
      const stores = await Promise.all([
        createPostgresStore(serverUrl, { schema, poolSize: 2 }),
        createPostgresStore(serverUrl, { schema, poolSize: 2 }),
        createPostgresStore(serverUrl, { schema, poolSize: 2 }),
      ])
      try {
        const [a, b] = stores as [Store, Store, Store]
        const user = await a.createUser({ email: 'shared@example.com' })
        assert.deepEqual(await b.getUser(user.user_id), user)
        const client = new pg.Client({ connectionString: serverUrl })
        await client.connect()
        try {
          const applied = await client.query<{ name: string }>(`select name from "${schema}".kysely_migration order by name`)
          assert.deepEqual(
            applied.rows.map((r) => r.name),
            [
              '0001_directory',
              '0002_api_keys',
              '0003_subject_usage',
              '0004_org_can_setup_saml',
              '0005_user_passwords',
              '0006_magic_links',
              '0007_invites',
              '0008_key_lookup_indexes',
            ],
          )
        } finally {
          await client.end()
        }
      } finally {
        await Promise.all(stores.map((s) => s.close()))
      }
    })

    it('lets two replicas flush the same keys and subjects in opposite orders without a deadlock', async () => {
      const schema = freshSchema()
      const [a, b] = await Promise.all([
        createPostgresStore(serverUrl, { schema, poolSize: 2 }),
        createPostgresStore(serverUrl, { schema, poolSize: 2 }),
      ])
      try {
        const keys: string[] = []
        for (let i = 0; i < 40; i++) {
          const key = await a.createApiKey({
            type: 'personal',
            user_id: `u${i}`,
            org_id: null,
            expires_at: null,
            secret_hash: i.toString(16).padStart(64, 'e'),
            display: 'gh_pk_Ab3d',
          })
          keys.push(key.api_key_id)
        }
        const keyBatch = (order: string[]) =>
          order.map((api_key_id, i) => ({ api_key_id, date: '2026-12-03', count: 1, last_used_at: 1_800_000_000 + i }))
        const subjectBatch = (order: string[]) => order.map((id) => ({ kind: 'user' as const, id, date: '2026-12-03', count: 1 }))
        const reversed = [...keys].reverse()
        // Each transaction holds the rows it has written until it commits: written in opposite
        // orders, each would wait on a row the other holds, and PostgreSQL aborts one of them.
        for (let round = 0; round < 3; round++) {
          await Promise.all([
            a.recordApiKeyUsage(keyBatch(keys)),
            b.recordApiKeyUsage(keyBatch(reversed)),
            a.recordSubjectUsage(subjectBatch(keys)),
            b.recordSubjectUsage(subjectBatch(reversed)),
          ])
        }
        for (const id of [keys[0]!, keys[39]!]) {
          assert.equal(await b.apiKeyUsage({ date: '2026-12-03', api_key_id: id }), 6)
          assert.equal(await b.subjectUsage({ kind: 'user', id, date: '2026-12-03' }), 6)
        }
        assert.equal((await a.getApiKey(keys[0]!))?.last_used_at, 1_800_000_039)
      } finally {
        await Promise.all([a.close(), b.close()])
      }
    })

    it('keeps what it wrote across a restart on the same schema', async () => {
      const schema = freshSchema()
      const first = await createPostgresStore(serverUrl, { schema })
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

      const second = await createPostgresStore(serverUrl, { schema })
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

    it('opens postgres:// and postgresql:// urls through openStore, honouring ?schema=', async () => {
      for (const scheme of ['postgres:', 'postgresql:']) {
        const schema = freshSchema()
        const target = new URL(serverUrl)
        target.searchParams.set('schema', schema)
        const store = await openStore(target.toString().replace(/^postgres(ql)?:/, scheme), '/nonexistent')
        try {
          await store.createUser({ email: 'open@example.com' })
        } finally {
          await store.close()
        }
        const client = new pg.Client({ connectionString: serverUrl })
        await client.connect()
        try {
          const found = await client.query(`select 1 from "${schema}".users where email = 'open@example.com'`)
          assert.equal(found.rowCount, 1)
        } finally {
          await client.end()
        }
      }
    })

    it('opens fresh schemas while another session creates and drops schemas of its own', async () => {
      // Another application (or another test run) on the same server: its DDL must not fail our start.
      const churn = new pg.Client({ connectionString: serverUrl })
      await churn.connect()
      let churning = true
      const churned = (async () => {
        for (let n = 0; churning; n++) {
          const other = `gatehouse_churn_${randomBytes(4).toString('hex')}_${n}`
          await churn.query(`create schema "${other}"; create table "${other}".t (a int, b int, c int)`)
          await churn.query(`drop schema "${other}" cascade`)
        }
      })()
      try {
        for (let i = 0; i < 12; i++) {
          const store = await createPostgresStore(serverUrl, { schema: freshSchema(), poolSize: 1 })
          await store.close()
        }
      } finally {
        churning = false
        await churned
        await churn.end()
      }
    })

    it('refuses a schema name that is not a plain identifier', async () => {
      await assert.rejects(createPostgresStore(serverUrl, { schema: 'a"; drop table x; --' }), /invalid PostgreSQL schema name/)
    })
  })
}

describe('splitSchemaParameter', () => {
  it('takes schema= out of the url and keeps the other parameters', () => {
    assert.deepEqual(splitSchemaParameter('postgres://u@h:5432/db?schema=tenant_a&sslmode=require'), {
      url: 'postgres://u@h:5432/db?sslmode=require',
      schema: 'tenant_a',
    })
    assert.deepEqual(splitSchemaParameter('postgres://u@h/db'), { url: 'postgres://u@h/db' })
    assert.throws(() => splitSchemaParameter('postgres://u@h/db?schema='), /needs a name/)
  })
})
