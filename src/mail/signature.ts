import { createHmac, timingSafeEqual } from 'node:crypto'

/** The header a webhook delivery is signed in: `t=<unix seconds>,v1=<hex HMAC-SHA256>`, as Stripe and Svix sign theirs. */
export const SIGNATURE_HEADER = 'gatehouse-signature'

/** The HMAC-SHA256 of `<t>.<body>` under the secret, hex: binding the time stops a captured delivery being replayed later. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
  return `t=${timestamp},v1=${mac}`
}

/**
 * Whether `header` signs `body` under `secret` at a time within `toleranceSeconds` of `now`: what a
 * receiver checks (the docs show the same steps). The MACs are compared in constant time.
 */
export function verifyWebhook(secret: string, header: string, body: string, now: number, toleranceSeconds = 300): boolean {
  const fields = new Map(header.split(',').map((part) => part.trim().split('=', 2) as [string, string]))
  const timestamp = Number(fields.get('t'))
  const given = fields.get('v1')
  if (!Number.isInteger(timestamp) || given === undefined || Math.abs(now - timestamp) > toleranceSeconds) return false
  const expected = Buffer.from(signWebhook(secret, timestamp, body).split('v1=')[1]!, 'hex')
  const actual = Buffer.from(given, 'hex')
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}
