/** A client for the admin API of a running gatehouse: JSON in, status and parsed JSON out. */
export type AdminClient = (
  method: string,
  path: string,
  body?: unknown,
  key?: string,
) => Promise<{ status: number; body: Record<string, unknown> }>

export function adminClient(baseUrl: () => string, adminKey: string): AdminClient {
  return async (method, path, body, key = adminKey) => {
    const res = await fetch(baseUrl() + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    const text = await res.text()
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
  }
}
