// Child process: the service every target proxies to. Plain JavaScript, run by `node` alone (no
// loader), like every baseline: a loader's hooks would be measured as the baseline's cost.
import { createServer } from 'node:http'
import { announce } from './announce.js'

// About 100 bytes, like a small JSON API answer; fixed, so every target moves the same bytes.
const BODY = Buffer.from(JSON.stringify({ ok: true, service: 'bench-upstream', message: 'hello from the upstream', n: 1234567890 }))

const server = createServer((req, res) => {
  // Upload bodies are read and dropped: the upstream must not be what limits the proxy.
  req.resume()
  req.once('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length })
    res.end(BODY)
  })
})
// Longer than any pause between the bench's phases, so proxies keep their pooled connections.
server.keepAliveTimeout = 120_000
server.listen(0, '127.0.0.1', () => announce(server))
