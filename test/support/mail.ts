import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

/** One message as the SMTP server received it, with its text part decoded. */
export type ReceivedMail = { from: string; to: string[]; subject: string; text: string; html: string }

type Inbox<T> = {
  received: T[]
  /** The first message matching `match`, waiting up to `timeoutMs` for it. */
  waitFor(match: (message: T) => boolean, timeoutMs?: number): Promise<T>
}

function createInbox<T>(): Inbox<T> & { add(message: T): void } {
  const received: T[] = []
  const waiters: { match: (m: T) => boolean; resolve: (m: T) => void }[] = []
  return {
    received,
    add(message) {
      received.push(message)
      for (const w of waiters.splice(0)) {
        if (w.match(message)) w.resolve(message)
        else waiters.push(w)
      }
    },
    waitFor(match, timeoutMs = 5000) {
      const found = received.find(match)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no such message arrived')), timeoutMs)
        waiters.push({
          match,
          resolve: (m) => {
            clearTimeout(timer)
            resolve(m)
          },
        })
      })
    },
  }
}

export type TestSmtpServer = Inbox<ReceivedMail> & { url: string; close(): Promise<void> }

/** Starts the smtp-server package in a child process (test/support/smtp-sink.ts) and collects what it receives. */
export async function startSmtpServer(): Promise<TestSmtpServer> {
  const script = fileURLToPath(new URL('./smtp-sink.ts', import.meta.url))
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const inbox = createInbox<ReceivedMail>()
  const lines = createInterface({ input: child.stdout! })
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the SMTP server exited (${code})`)))
    lines.on('line', (line) => {
      const event = JSON.parse(line) as { listening?: number; from?: string; to?: string[]; raw?: string }
      if (event.listening !== undefined) resolve(event.listening)
      else inbox.add({ from: event.from!, to: event.to!, ...parseMessage(event.raw!) })
    })
  })
  return {
    ...inbox,
    url: `smtp://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

/** The subject and the text and HTML parts of a MIME message as nodemailer writes one (multipart/alternative). */
function parseMessage(raw: string): { subject: string; text: string; html: string } {
  const [head, ...rest] = raw.split(/\r?\n\r?\n/)
  const headers = unfold(head!)
  const body = rest.join('\r\n\r\n')
  const boundary = /boundary="?([^";\r\n]+)"?/i.exec(headers['content-type'] ?? '')?.[1]
  const parts = boundary ? body.split(`--${boundary}`).slice(1, -1) : [`${head}\r\n\r\n${body}`]
  const decoded: Record<string, string> = {}
  for (const part of parts) {
    const [partHead, ...partRest] = part.replace(/^\r?\n/, '').split(/\r?\n\r?\n/)
    const partHeaders = unfold(partHead!)
    const type = (partHeaders['content-type'] ?? 'text/plain').split(';')[0]!.trim()
    decoded[type] = decode(partRest.join('\r\n\r\n'), partHeaders['content-transfer-encoding'] ?? '7bit')
  }
  return { subject: headers.subject ?? '', text: decoded['text/plain'] ?? '', html: decoded['text/html'] ?? '' }
}

function unfold(head: string): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return headers
}

function decode(body: string, encoding: string): string {
  switch (encoding.toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
    case 'quoted-printable':
      return Buffer.from(
        body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
        'latin1',
      ).toString('utf8')
    default:
      return body
  }
}

/** One delivery the webhook receiver took, after checking its signature. */
export type WebhookDelivery = { payload: Record<string, unknown>; signature: string; signatureValid: boolean }

export type TestWebhookReceiver = Inbox<WebhookDelivery> & {
  url: string
  /** The status the next deliveries are answered with (default 204), after `delayMs` (default 0). */
  answerWith(status: number, delayMs?: number): void
  close(): Promise<void>
}

/**
 * A real HTTP server standing in for a team's mailer: it checks each delivery's
 * Gatehouse-Signature the way docs/END_USERS.md tells a receiver to (HMAC-SHA256 of `t.body`,
 * compared in constant time, the time within five minutes) and records the payload.
 */
export async function startWebhookReceiver(secret: string): Promise<TestWebhookReceiver> {
  const inbox = createInbox<WebhookDelivery>()
  let status = 204
  let delay = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const signature = String(req.headers['gatehouse-signature'] ?? '')
      inbox.add({ payload: JSON.parse(body) as Record<string, unknown>, signature, signatureValid: verify(secret, signature, body) })
      setTimeout(() => res.writeHead(status).end(), delay)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    ...inbox,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mail`,
    answerWith: (next, delayMs = 0) => {
      status = next
      delay = delayMs
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function verify(secret: string, header: string, body: string): boolean {
  const fields = Object.fromEntries(header.split(',').map((kv) => kv.split('=', 2) as [string, string]))
  const t = Number(fields.t)
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300 || !fields.v1) return false
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest()
  const given = Buffer.from(fields.v1, 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected)
}
