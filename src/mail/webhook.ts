import { signWebhook, SIGNATURE_HEADER } from './signature.ts'
import { MailDeliveryError } from './types.ts'
import type { Mailer } from './types.ts'

export type WebhookDelivery = { url: URL; secret: string; timeoutMs: number }

/**
 * Mail as a signed JSON POST to the team's own mailer: the message's fields as the body, the
 * signature of the time and body in Gatehouse-Signature. Anything but a 2xx within the timeout
 * is a failed delivery (never retried here: the caller hears 502 and may ask again).
 */
export function createWebhookMailer(delivery: WebhookDelivery): Mailer {
  return {
    async send(message) {
      const body = JSON.stringify(message)
      let res: Response
      try {
        res = await fetch(delivery.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [SIGNATURE_HEADER]: signWebhook(delivery.secret, Math.floor(Date.now() / 1000), body),
          },
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(delivery.timeoutMs),
        })
      } catch (err) {
        const timedOut = err instanceof DOMException && err.name === 'TimeoutError'
        throw new MailDeliveryError(
          timedOut ? `the mail webhook did not answer within ${delivery.timeoutMs} ms` : 'the mail webhook is unreachable',
        )
      }
      // The answer is not read: only whether the mailer took the message.
      await res.body?.cancel()
      if (res.status < 200 || res.status > 299) throw new MailDeliveryError(`the mail webhook answered ${res.status}`)
    },
  }
}
