import { createTransport } from 'nodemailer'
import { MailDeliveryError } from './types.ts'
import type { Mailer, MailMessage } from './types.ts'

export type SmtpDelivery = {
  /** smtp://[user:pass@]host[:port] (STARTTLS when offered) or smtps://… (TLS from the start). */
  url: URL
  /** The From address, e.g. `Acme <no-reply@acme.example>`. */
  from: string
  timeoutMs: number
}

/** Mail through an SMTP relay with nodemailer (the well-kept SMTP client of Node): a plain-text and a simple HTML part. */
export function createSmtpMailer(delivery: SmtpDelivery): Mailer & { close(): void } {
  const transport = createTransport({
    url: delivery.url.href,
    connectionTimeout: delivery.timeoutMs,
    greetingTimeout: delivery.timeoutMs,
    socketTimeout: delivery.timeoutMs,
  })
  return {
    async send(message) {
      const { subject, text, html } = render(message)
      try {
        await transport.sendMail({ from: delivery.from, to: message.to, subject, text, html })
      } catch (err) {
        // The server's reply code says why; the message (and its link) is not repeated.
        const code = (err as { responseCode?: unknown }).responseCode
        throw new MailDeliveryError(
          typeof code === 'number' ? `the SMTP server refused the mail (${code})` : 'the SMTP server is unreachable',
        )
      }
    },
    close: () => transport.close(),
  }
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)

/** The subject and the two bodies: the link, what it does and until when. */
export function render(message: MailMessage): { subject: string; text: string; html: string } {
  const until = new Date(message.expires_at * 1000).toUTCString()
  const { subject, line, action } =
    message.type === 'invite'
      ? {
          subject: `You are invited to ${message.org?.name ?? 'an organization'}`,
          line: `${message.inviter_email ? `${message.inviter_email} invited you` : 'You are invited'} to join ${message.org?.name ?? 'an organization'}${message.role ? ` as ${message.role}` : ''}.`,
          action: 'Accept the invitation',
        }
      : { subject: 'Your sign-in link', line: 'Use this link to sign in. It works once.', action: 'Sign in' }
  const text = `${line}\n\n${action}: ${message.url}\n\nThe link works until ${until}. If you did not expect this mail, ignore it.\n`
  const html = `<!doctype html><html><body><p>${escapeHtml(line)}</p><p><a href="${escapeHtml(message.url)}">${escapeHtml(action)}</a></p><p>The link works until ${escapeHtml(until)}. If you did not expect this mail, ignore it.</p></body></html>`
  return { subject, text, html }
}
