import { createHmac } from 'node:crypto'

/** The header a webhook delivery is signed in: `t=<unix seconds>,v1=<hex HMAC-SHA256>`, as Stripe and Svix sign theirs. */
export const SIGNATURE_HEADER = 'gatehouse-signature'

/** The HMAC-SHA256 of `<t>.<body>` under the secret, hex: binding the time stops a captured delivery being replayed later. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
  return `t=${timestamp},v1=${mac}`
}
