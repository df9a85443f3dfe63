import assert from 'node:assert/strict'
import { createServer, request } from 'node:http'
import type { IncomingMessage, Server } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as delay, setImmediate as tick } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

const MiB = 1024 * 1024
const SIZE = 50 * MiB
/**
 * Live memory may grow by this much while 50 MiB move through the gateway. A gateway that
 * buffers a body (or ignores backpressure) holds at least 40 MiB at the sampling points below.
 */
const MAX_GROWTH = 30 * MiB

// A full GC before each sample, so that what is measured is memory still referenced, not garbage
// waiting for a collection: the only way a memory bound on a streaming path can be robust.
setFlagsFromString('--expose-gc')
const gc = ((globalThis as { gc?: () => void }).gc ?? runInNewContext('gc')) as () => void

/** heapUsed + arrayBuffers (Buffers live there) after two full collections. */
async function liveBytes(): Promise<number> {
  gc()
  await tick() // lets V8 finish sweeping freed ArrayBuffer backing stores
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** Samples live memory in a loop until stopped; `sample()` adds one on demand (at a pause point). */
function memorySampler() {
  let running = true
  let peak = 0
  const sample = async () => {
    peak = Math.max(peak, await liveBytes())
  }
  const loop = (async () => {
    while (running) {
      await sample()
      await delay(50)
    }
  })()
  return {
    sample,
    async stop(): Promise<number> {
      running = false
      await loop
      return peak
    },
  }
}

function mb(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await delay(20)
  }
}

/** The access log entry for `path`, among the lines logged from index `since` on. */
function accessLog(gateway: TestGateway, path: string, since = 0): Record<string, unknown> | undefined {
  return gateway.logs.slice(since).find((l) => l.msg === 'request' && l.path === path)
}

/** Opens a raw connection and writes the given bytes; errors (the socket is destroyed on purpose) are ignored. */
async function rawConnect(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  return socket
}

describe('streaming through the real gateway', () => {
  let upstream: TestUpstream
  let gateway: TestGateway
  const crashes: unknown[] = []
  const onCrash = (err: unknown) => crashes.push(err)

  before(async () => {
    process.on('uncaughtExceptionMonitor', onCrash)
    upstream = await startUpstream()
    gateway = await startGateway({ upstream: { url: upstream.url }, routes: [{ path: '/*', auth: 'none' }] })
  })

  after(async () => {
    process.off('uncaughtExceptionMonitor', onCrash)
    await gateway.close()
    await upstream.close()
  })

  it('streams a 50 MiB upload to the upstream without holding it in memory', { timeout: 60_000 }, async () => {
    // Warm the path (pool connection, JIT) so the baseline is not measured before first use.
    assert.equal((await fetch(`${gateway.url}/warmup`, { method: 'POST', body: 'x' })).status, 200)
    const baseline = await liveBytes()
    const sampler = memorySampler()

    // The producer reuses one chunk and honours backpressure; at 40 MiB it pauses so that a
    // gateway buffering the body would be caught holding it.
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    async function* body() {
      for (let sent = 0; sent < SIZE; sent += chunk.length) {
        if (sent === 40 * MiB) {
          await delay(500)
          await sampler.sample()
        }
        yield chunk
      }
    }
    const response = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${gateway.url}/upload?n=1`,
        { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'content-length': String(SIZE) } },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (s: string) => (text += s))
          res.on('end', () => resolve({ status: res.statusCode!, text }))
          res.on('error', reject)
        },
      )
      req.on('error', reject)
      pipeline(Readable.from(body()), req).catch(reject)
    })
    const peak = await sampler.stop()

    assert.equal(response.status, 200)
    assert.equal((JSON.parse(response.text) as { bodyBytes: number }).bodyBytes, SIZE)
    const seen = upstream.received.find((r) => r.url === '/upload?n=1')
    assert.ok(seen, 'the upstream received the upload')
    assert.equal(seen.bodyBytes, SIZE)
    assert.ok(peak - baseline < MAX_GROWTH, `live memory grew by ${mb(peak - baseline)} while 50 MiB were uploaded`)
  })

  it('streams a 50 MiB download with backpressure, without holding it in memory', { timeout: 60_000 }, async () => {
    const baseline = await liveBytes()
    const sampler = memorySampler()
    const result = await new Promise<{ status: number; length: string | undefined; bytes: number }>((resolve, reject) => {
      const req = request(`${gateway.url}/big?mb=50`, (res: IncomingMessage) => {
        let bytes = 0
        let paused = false
        res.on('data', (c: Buffer) => {
          bytes += c.length
          if (!paused && bytes >= MiB) {
            // A slow reader: a gateway that ignored backpressure would pull the rest of the
            // 50 MiB from the upstream into its own memory during this pause.
            paused = true
            res.pause()
            void delay(800)
              .then(() => sampler.sample())
              .then(() => res.resume(), reject)
          }
        })
        res.on('end', () => resolve({ status: res.statusCode!, length: res.headers['content-length'], bytes }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end()
    })
    const peak = await sampler.stop()

    assert.equal(result.status, 200)
    assert.equal(result.length, String(SIZE))
    assert.equal(result.bytes, SIZE)
    assert.ok(peak - baseline < MAX_GROWTH, `live memory grew by ${mb(peak - baseline)} while 50 MiB were downloaded`)
  })

  it('passes server-sent events through one by one as the upstream writes them', { timeout: 30_000 }, async () => {
    const res = await fetch(`${gateway.url}/sse`)
    assert.equal(res.status, 200)
    assert.equal(res.headers.get('content-type'), 'text/event-stream')
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader()

    const arrivals: { at: number; text: string }[] = []
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      arrivals.push({ at: performance.now(), text: value })
    }
    const ended = performance.now()
    const text = arrivals.map((a) => a.text).join('')
    assert.equal(text, 'data: event 0\n\ndata: event 1\n\ndata: event 2\n\n')

    // The first read delivered the first event alone, before the upstream had written the others...
    assert.equal(arrivals[0]!.text, 'data: event 0\n\n')
    // ...and well before the stream ended. The upstream writes the events 100 ms apart (its timer
    // re-arms after each write, so they never bunch): the first reaches a streaming client at
    // least ~100 ms before the end, even on a loaded machine; a buffering gateway delivers all
    // of them at the end.
    const lead = ended - arrivals[0]!.at
    assert.ok(lead >= 80, `the first event arrived only ${lead.toFixed(0)} ms before the end of the stream`)
  })

  it('a client that disconnects mid-download does not take the gateway down', { timeout: 30_000 }, async () => {
    const port = gateway.running.gateway.port
    const since = gateway.logs.length
    const socket = await rawConnect(port)
    let received = 0
    const gotSome = new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => {
        received += c.length
        if (received >= 256 * 1024) resolve()
      })
    })
    socket.write('GET /big?mb=50&disconnect=1 HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n')
    await gotSome
    socket.destroy()

    const entry = await waitFor('the access log of the abandoned download', () => accessLog(gateway, '/big', since))
    assert.equal(entry.error, 'client-closed')
    const res = await fetch(`${gateway.url}/after-download`)
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { ok: boolean }).ok, true)
    assert.deepEqual(crashes, [])
  })

  it('a client that disconnects mid-upload does not take the gateway down', { timeout: 30_000 }, async () => {
    const port = gateway.running.gateway.port
    const socket = await rawConnect(port)
    socket.write(`POST /partial-upload HTTP/1.1\r\nHost: gatehouse.test\r\nContent-Length: ${SIZE}\r\n\r\n`)
    socket.write(Buffer.alloc(MiB, 0x62))
    // Only disconnect once the body is demonstrably flowing to the upstream.
    const seen = await waitFor('the upstream to receive part of the body', () =>
      upstream.received.find((r) => r.url === '/partial-upload' && r.bodyBytes > 0),
    )
    socket.destroy()

    const entry = await waitFor('the access log of the abandoned upload', () => accessLog(gateway, '/partial-upload'))
    assert.equal(entry.error, 'client-closed')
    assert.ok(seen.bodyBytes < SIZE, 'the upstream never saw a complete body')
    const res = await fetch(`${gateway.url}/after-upload`, { method: 'POST', body: 'hello' })
    assert.equal(res.status, 200)
    assert.equal(((await res.json()) as { bodyBytes: number }).bodyBytes, 5)
    assert.deepEqual(crashes, [])
  })

  it('a client that disconnects while waiting for /slow does not take the gateway down', { timeout: 30_000 }, async () => {
    const port = gateway.running.gateway.port
    const socket = await rawConnect(port)
    socket.write('GET /slow?disconnect=1 HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n')
    await waitFor('the upstream to receive /slow', () => upstream.received.find((r) => r.url === '/slow?disconnect=1'))
    socket.destroy()

    const entry = await waitFor('the access log of the abandoned /slow', () => accessLog(gateway, '/slow'))
    assert.equal(entry.status, 499)
    assert.equal(entry.error, 'client-closed')
    const res = await fetch(`${gateway.url}/after-slow`)
    assert.equal(res.status, 200)
    assert.deepEqual(crashes, [])
  })
})

describe('a client that goes away is not waited for upstream', () => {
  let hanging: Server
  let gateway: TestGateway
  const upstreamGot: string[] = []
  const upstreamSawClose: string[] = []

  before(async () => {
    // An upstream that never answers and reports when the gateway drops the connection.
    hanging = createServer((req, res) => {
      upstreamGot.push(req.url!)
      res.on('close', () => upstreamSawClose.push(req.url!))
    })
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve))
    const { port } = hanging.address() as AddressInfo
    gateway = await startGateway({ upstream: { url: `http://127.0.0.1:${port}`, timeout: '30s' }, routes: [{ path: '/*', auth: 'none' }] })
  })

  after(async () => {
    await gateway.close()
    hanging.closeAllConnections()
    await new Promise<void>((resolve) => hanging.close(() => resolve()))
  })

  it('closes the upstream request when the client disconnects', { timeout: 30_000 }, async () => {
    const socket = await rawConnect(gateway.running.gateway.port)
    socket.write('GET /hang HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n')
    await waitFor('the upstream to receive /hang', () => upstreamGot.includes('/hang'))
    assert.equal(upstreamSawClose.length, 0, 'the upstream request is open while the client waits')
    socket.destroy()
    await waitFor('the upstream to see its request closed', () => upstreamSawClose.includes('/hang'))
    const entry = await waitFor('the access log of /hang', () => accessLog(gateway, '/hang'))
    assert.equal(entry.error, 'client-closed')
  })
})

describe('upstream failures become problem responses', () => {
  let upstream: TestUpstream
  let down: TestGateway
  let slow: TestGateway

  before(async () => {
    upstream = await startUpstream()
    down = await startGateway({ upstream: { url: `http://127.0.0.1:${await closedPort()}` }, routes: [{ path: '/*', auth: 'none' }] })
    slow = await startGateway({ upstream: { url: upstream.url, timeout: '500ms' }, routes: [{ path: '/*', auth: 'none' }] })
  })

  after(async () => {
    await down.close()
    await slow.close()
    await upstream.close()
  })

  it('an unreachable upstream is 502 problem+json, logged with its status', { timeout: 30_000 }, async () => {
    const res = await fetch(`${down.url}/anything`)
    assert.equal(res.status, 502)
    assert.equal(res.headers.get('content-type'), 'application/problem+json')
    assert.ok(res.headers.get('x-request-id'), 'the request id is still returned')
    const body = (await res.json()) as Record<string, unknown>
    assert.equal(body.status, 502)
    assert.equal(body.title, 'Bad Gateway')
    assert.equal(typeof body.type, 'string')
    assert.doesNotMatch(JSON.stringify(body), /ECONNREFUSED|127\.0\.0\.1|\bat /, 'no internals in the body')
    const entry = await waitFor('the access log entry', () => accessLog(down, '/anything'))
    assert.equal(entry.status, 502)
    assert.equal(entry.error, 'connect')
  })

  it('an upstream slower than upstream.timeout is 504 problem+json, logged with its status', { timeout: 30_000 }, async () => {
    const res = await fetch(`${slow.url}/slow`)
    assert.equal(res.status, 504)
    assert.equal(res.headers.get('content-type'), 'application/problem+json')
    const body = (await res.json()) as Record<string, unknown>
    assert.equal(body.status, 504)
    assert.equal(body.title, 'Gateway Timeout')
    const entry = await waitFor('the access log entry', () => accessLog(slow, '/slow'))
    assert.equal(entry.status, 504)
    assert.equal(entry.error, 'timeout')
    // The same gateway still answers a fast request.
    assert.equal((await fetch(`${slow.url}/fast`)).status, 200)
  })
})
