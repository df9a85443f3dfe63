// Child process: the Node floor, a bare proxy with no auth. Plain JavaScript, run by `node` alone.
// Argument: UPSTREAM_URL.
import { Agent, createServer, request } from 'node:http'
import { announce } from './announce.js'

const upstream = new URL(process.argv[2] ?? '')
const agent = new Agent({ keepAlive: true, maxSockets: 256 })

const server = createServer((req, res) => {
  const forward = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    },
  )
  // A client gone mid-request (as at the end of every load run) takes the upstream request with
  // it; an unhandled 'error' on `req` would otherwise crash the proxy.
  req.once('error', () => forward.destroy())
  res.once('close', () => {
    if (!res.writableFinished) forward.destroy()
  })
  forward.once('error', () => {
    if (res.headersSent) res.destroy()
    else res.writeHead(502).end()
  })
  req.pipe(forward)
})
server.keepAliveTimeout = 120_000
server.listen(0, '127.0.0.1', () => announce(server))
