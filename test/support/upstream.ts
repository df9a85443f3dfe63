import { createServer } from 'node:http'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What the upstream saw of one request. */
export type Received = { method: string; url: string; headers: IncomingHttpHeaders; rawHeaders: string[]; bodyBytes: number }

export type TestUpstream = {
  url: string
  received: Received[]
  last(): Received
  close(): Promise<void>
}

/**
 * A real upstream that records every request. Special paths: `/sse` writes three events 100 ms
 * apart, `/slow` answers after 2 s, `/big?mb=N` streams N MiB; anything else answers 200 JSON.
 */
export async function startUpstream(): Promise<TestUpstream> {
  const received: Received[] = []
  const server: Server = createServer((req, res) => {
    const record: Received = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0 }
    received.push(record)
    req.on('data', (chunk: Buffer) => {
      record.bodyBytes += chunk.length
    })
    req.on('end', () => {
      const path = req.url!.split('?')[0]
      if (path === '/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        let n = 0
        const timer = setInterval(() => {
          res.write(`data: event ${n}\n\n`)
          if (++n === 3) {
            clearInterval(timer)
            res.end()
          }
        }, 100)
        res.on('close', () => clearInterval(timer))
        return
      }
      if (path === '/slow') {
        const timer = setTimeout(() => res.end('late'), 2000)
        res.on('close', () => clearTimeout(timer))
        return
      }
      if (path === '/big') {
        const mb = Number(new URL(req.url!, 'http://x').searchParams.get('mb') ?? '1')
        const chunk = Buffer.alloc(1024 * 1024, 120)
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(mb * chunk.length) })
        let sent = 0
        const pump = () => {
          while (sent < mb) {
            sent++
            if (!res.write(chunk)) return void res.once('drain', pump)
          }
          res.end()
        }
        pump()
        return
      }
      const body = JSON.stringify({ ok: true, path: req.url, bodyBytes: record.bodyBytes })
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'yes', 'set-cookie': ['a=1', 'b=2'] })
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    last: () => {
      const r = received.at(-1)
      if (!r) throw new Error('the upstream received nothing')
      return r
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
