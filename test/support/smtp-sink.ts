import { SMTPServer } from 'smtp-server'

/**
 * A real SMTP server in its own process, for tests: it accepts every message on a loopback port
 * (no TLS, no auth) and prints `{"listening":PORT}` and then one JSON line per message received
 * (`{from, to, raw}`) on stdout. test/support/mail.ts starts it and reads those lines. A
 * recipient whose address starts with `refused@` is refused with 550, as a real server refuses
 * an unknown mailbox.
 */
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  onRcptTo(address, _session, done) {
    if (address.address.startsWith('refused@')) return done(Object.assign(new Error('no such mailbox'), { responseCode: 550 }))
    done()
  },
  onData(stream, session, done) {
    const chunks: Buffer[] = []
    stream.on('data', (chunk: Buffer) => chunks.push(chunk))
    stream.on('end', () => {
      const from = session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address
      const to = session.envelope.rcptTo.map((r) => r.address)
      process.stdout.write(`${JSON.stringify({ from, to, raw: Buffer.concat(chunks).toString('utf8') })}\n`)
      done()
    })
  },
})
server.listen(0, '127.0.0.1', () => {
  const address = server.server.address()
  process.stdout.write(`${JSON.stringify({ listening: typeof address === 'object' && address ? address.port : 0 })}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
