import { randomBytes } from 'node:crypto'

/** A fresh admin API key for one run: generated, never a fixed secret in the repository. */
export function benchAdminKey(): string {
  return randomBytes(24).toString('base64url')
}

/** What to create through gatehouse's management API before an API-key scenario. */
export type KeyPlan = {
  /** Users to create, each a Member of one org (as the bench's JWTs carry one org). */
  users: number
  /** Personal keys to create, spread round-robin over the users. */
  keys: number
  /** A label for emails, so that the scenarios' users are told apart in a log. */
  label: string
}

// Enough requests in flight to hide the round trip; every create is a durable sqlite commit anyway.
const CONCURRENCY = 8

/**
 * Creates an org, `plan.users` users in it and `plan.keys` personal keys through the admin API of
 * a running gatehouse (the same calls a deployment makes), and returns the keys' secrets in
 * creation order. Any answer other than 201 fails the run: a half-prepared scenario would
 * measure something else.
 */
export async function createBenchKeys(adminOrigin: string, adminKey: string, plan: KeyPlan): Promise<string[]> {
  if (plan.users < 1 || plan.keys < 1) throw new Error('createBenchKeys needs at least one user and one key')
  const post = async <T>(path: string, body: Record<string, unknown>): Promise<T> => {
    const response = await fetch(adminOrigin + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    const text = await response.text()
    if (response.status !== 201) throw new Error(`POST ${path}: ${response.status} ${text.slice(0, 300)}`)
    return JSON.parse(text) as T
  }

  const { org_id: orgId } = await post<{ org_id: string }>('/v1/orgs', { name: `Bench Org ${plan.label}` })
  const userIds = await pooled(plan.users, async (i) => {
    const { user_id: userId } = await post<{ user_id: string }>('/v1/users', { email: `${plan.label}-${i}@bench.example` })
    await post(`/v1/orgs/${orgId}/members`, { user_id: userId, role: 'Member' })
    return userId
  })
  return pooled(plan.keys, async (i) => {
    const created = await post<{ api_key_token: string }>('/v1/api_keys', { user_id: userIds[i % userIds.length], name: `bench ${i}` })
    return created.api_key_token
  })
}

/** `task(0) … task(count - 1)`, at most CONCURRENCY at a time, results in index order. */
async function pooled<T>(count: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(count)
  let next = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      results[i] = await task(i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker))
  return results
}
