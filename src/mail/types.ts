/**
 * What gatehouse mails: one message per link, described as data so each delivery (a webhook the
 * team's own mailer handles, or SMTP) renders or forwards it its own way.
 */
export type MailMessage = {
  type: 'invite' | 'magic_link'
  /** The recipient's address. */
  to: string
  /** The one-time link; a secret, never logged. */
  url: string
  /** Unix seconds: when the link stops working. */
  expires_at: number
  /** The org an invite is to. */
  org?: { org_id: string; name: string }
  /** The role an invite grants. */
  role?: string
  /** Who invited, when a user did. */
  inviter_email?: string
}

/** Delivers one message; rejects with MailDeliveryError when the delivery did not take it. */
export type Mailer = { send(message: MailMessage): Promise<void> }

/** The mail was not handed over (a webhook's non-2xx or timeout, an SMTP refusal): the caller who asked answers 502. */
export class MailDeliveryError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'MailDeliveryError'
  }
}
