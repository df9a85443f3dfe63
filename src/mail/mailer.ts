import { createHash } from 'node:crypto'
import { createSmtpMailer } from './smtp.ts'
import type { SmtpDelivery } from './smtp.ts'
import { MailDeliveryError } from './types.ts'
import type { Mailer } from './types.ts'
import { createWebhookMailer } from './webhook.ts'
import type { WebhookDelivery } from './webhook.ts'

/** `mail:` as the config parses it: one delivery. */
export type MailSettings = ({ kind: 'webhook' } & WebhookDelivery) | ({ kind: 'smtp' } & SmtpDelivery)

type MailLog = { info(details: object, message: string): void; warn(details: object, message: string): void }

/**
 * The configured delivery, logging each outcome with the message's type and the recipient's
 * domain and a short hash of the address (to match a complaint to a line), never the link or the
 * whole address.
 */
export function createMailer(settings: MailSettings, log: MailLog): Mailer & { close(): void } {
  const delivery = settings.kind === 'webhook' ? { ...createWebhookMailer(settings), close() {} } : createSmtpMailer(settings)
  return {
    async send(message) {
      const details = { mail: message.type, via: settings.kind, ...recipientOf(message.to) }
      try {
        await delivery.send(message)
      } catch (err) {
        const why = err instanceof MailDeliveryError ? err.message : 'the delivery failed'
        log.warn({ ...details, err: why }, 'mail not sent')
        throw err instanceof MailDeliveryError ? err : new MailDeliveryError(why)
      }
      log.info(details, 'mail sent')
    },
    close: () => delivery.close(),
  }
}

function recipientOf(address: string): { to_domain: string; to_hash: string } {
  const lower = address.toLowerCase()
  return {
    to_domain: lower.slice(lower.lastIndexOf('@') + 1),
    to_hash: createHash('sha256').update(lower).digest('hex').slice(0, 12),
  }
}
