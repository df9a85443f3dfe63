// Child process: node:http's server and an undici Pool driven by a dispatch handler (the fastest
// off-the-shelf Node client, and what src/forward/proxy.ts used before gatehouse's own client),
// with no decision, no header filtering beyond hop-by-hop names, no identity, no metrics. What a
// Node proxy on that stack pays per request before it does anything. Plain JavaScript, run by `node` alone.
// Argument: UPSTREAM_URL.
import { createServer } from 'node:http'
import { Pool } from 'undici'
import { announce } from './announce.js'

const upstream = new URL(process.argv[2] ?? '')
const pool = new Pool(upstream.origin, { connections: 256, keepAliveTimeout: 4_000 })
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade'])

function endToEnd(raw, name) {
  const headers = []
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const field = name(raw[i])
    if (!HOP_BY_HOP.has(field.toLowerCase())) headers.push(field, name(raw[i + 1]))
  }
  return headers
}

const server = createServer((req, res) => {
  let resume
  pool.dispatch(
    { path: req.url, method: req.method, headers: endToEnd(req.rawHeaders, String), body: req.method === 'GET' ? null : req },
    {
      onConnect(abort) {
        res.once('close', () => res.writableFinished || abort(new Error('client closed the connection')))
      },
      onHeaders(status, rawHeaders, resumeReading) {
        res.writeHead(
          status,
          endToEnd(rawHeaders, (b) => b.toString('latin1')),
        )
        resume = resumeReading
        return true
      },
      onData(chunk) {
        if (res.write(chunk)) return true
        res.once('drain', resume)
        return false
      },
      onComplete: () => res.end(),
      onError() {
        if (res.headersSent) res.destroy()
        else res.writeHead(502).end()
      },
    },
  )
})
server.keepAliveTimeout = 120_000
server.listen(0, '127.0.0.1', () => announce(server))
// A stop's SIGTERM exits normally, so that `node --cpu-prof` writes its profile.
process.on('SIGTERM', () => {
  void pool.close()
  server.close(() => process.exit(0))
})
