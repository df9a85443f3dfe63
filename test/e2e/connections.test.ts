import assert from 'node:assert/strict'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { statuses } from '../support/raw-upstream.ts'
import { startUpstream } from '../support/upstream.ts'
import type { TestUpstream } from '../support/upstream.ts'

/** A raw keep-alive connection that collects what the server sends and notes how it ended. */
function openConnection(port: number) {
  const socket: Socket = connect(port, '127.0.0.1')
  const state = { text: '', ended: false, error: undefined as string | undefined, endedAt: 0 }
  socket.on('data', (chunk: Buffer) => (state.text += chunk.toString('latin1')))
  socket.on('close', () => {
    state.ended = true
    state.endedAt = performance.now()
  })
  socket.on('error', (err: NodeJS.ErrnoException) => (state.error = err.code))
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  const responses = () => statuses(state.text).length
  async function waitFor(predicate: () => boolean, ms = 5000): Promise<boolean> {
    const deadline = performance.now() + ms
    while (!predicate()) {
      if (performance.now() > deadline) return false
      await new Promise((r) => setTimeout(r, 10))
    }
    return true
  }
  return { socket, state, connected, responses, waitFor }
}

const GET = (path: string) => `GET ${path} HTTP/1.1\r\nHost: gw.test\r\n\r\n`

describe('connections: graceful shutdown, slow clients, refused bodies', () => {
  let upstream: TestUpstream
  let issuer: TestIssuer
  let token: string

  before(async () => {
    upstream = await startUpstream()
    issuer = await startIssuer()
    token = await issuer.sign(propelauthClaims('u-1'))
  })
  after(async () => {
    await issuer.close()
    await upstream.close()
  })

  const tokenIssuer = () => ({ issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] })

  describe('graceful shutdown (issue 11 item 5)', () => {
    it('serves every request sent on a reused connection after SIGTERM, each with Connection: close, and resets none', async () => {
      const gateway = await startGateway({
        server: { listen: '127.0.0.1:0', shutdown_timeout: '5s' },
        upstream: { url: upstream.url },
        routes: [{ path: '/*', auth: 'none' }],
      })
      const port = gateway.running.gateway.port
      const connections = Array.from({ length: 30 }, () => openConnection(port))
      await Promise.all(connections.map((c) => c.connected))
      for (const c of connections) c.socket.write(GET('/first'))
      for (const c of connections) assert.ok(await c.waitFor(() => c.responses() === 1), 'the first response')
      const slow = openConnection(port)
      await slow.connected
      slow.socket.write(GET('/slow'))
      await new Promise((r) => setTimeout(r, 100))

      const closing = gateway.running.close()
      // Clients keep using their sockets, as keep-alive clients do, within the idle grace.
      await Promise.all(
        connections.map(async (c, i) => {
          await new Promise((r) => setTimeout(r, (i * 7) % 200))
          c.socket.write(GET('/second'))
        }),
      )
      for (const c of connections) await c.waitFor(() => c.state.ended)
      await slow.waitFor(() => slow.state.ended, 6000)
      await closing

      const served = connections.filter((c) => c.responses() === 2).length
      assert.equal(served, 30, `served ${served} of 30; errors: ${connections.map((c) => c.state.error ?? '-').join(',')}`)
      for (const c of connections) {
        const second = c.state.text.slice(c.state.text.lastIndexOf('HTTP/1.1 '))
        assert.match(second, /^HTTP\/1\.1 200/)
        assert.match(second, /connection: close/i)
      }
      assert.deepEqual(statuses(slow.state.text), [200], 'the request in flight at SIGTERM finished')
      assert.match(slow.state.text, /late$/)
      await gateway.close()
    })

    it('closes an idle keep-alive connection after the grace, not at the instant of SIGTERM', async () => {
      const gateway = await startGateway({ upstream: { url: upstream.url }, routes: [{ path: '/*', auth: 'none' }] })
      const c = openConnection(gateway.running.gateway.port)
      await c.connected
      c.socket.write(GET('/a'))
      await c.waitFor(() => c.responses() === 1)
      const started = performance.now()
      const closing = gateway.running.close()
      await c.waitFor(() => c.state.ended)
      await closing
      const after = c.state.endedAt - started
      assert.ok(after >= 250 && after < 2000, `closed ${Math.round(after)} ms after SIGTERM`)
      await gateway.close()
    })
  })

  describe('slow clients (issue 11 item 6)', () => {
    let gateway: TestGateway
    let port: number
    before(async () => {
      gateway = await startGateway({
        server: { listen: '127.0.0.1:0', headers_timeout: '1s', request_timeout: '1s', keep_alive_timeout: '1s' },
        upstream: { url: upstream.url },
        tokens: tokenIssuer(),
        routes: [
          { path: '/upload/*', auth: 'none', request_timeout: '6s' },
          { path: '/*', auth: 'none' },
        ],
      })
      port = gateway.running.gateway.port
    })
    after(() => gateway.close())

    it('headers that never finish: 408 and the connection closed within headers_timeout and the check period', async () => {
      const c = openConnection(port)
      await c.connected
      const started = performance.now()
      c.socket.write('GET /a HTTP/1.1\r\nHost: gw.test\r\nX-Slow: ')
      assert.ok(await c.waitFor(() => c.state.ended, 4000), 'closed')
      const took = performance.now() - started
      assert.deepEqual(statuses(c.state.text), [408])
      assert.match(c.state.text, /application\/problem\+json/)
      assert.ok(took >= 900 && took < 3500, `closed after ${Math.round(took)} ms`)
    })

    it('a body that trickles: 408 after request_timeout, connection closed, nothing left hanging upstream', async () => {
      const c = openConnection(port)
      await c.connected
      const started = performance.now()
      c.socket.write('POST /a HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 100\r\n\r\n0123456789')
      const timer = setInterval(() => c.socket.writable && c.socket.write('x'), 200)
      assert.ok(await c.waitFor(() => c.state.ended, 4000), 'closed')
      clearInterval(timer)
      const took = performance.now() - started
      assert.deepEqual(statuses(c.state.text), [408])
      assert.ok(took >= 900 && took < 3000, `closed after ${Math.round(took)} ms`)
    })

    it('a route may allow its uploads longer than server.request_timeout', async () => {
      const c = openConnection(port)
      await c.connected
      c.socket.write('POST /upload/x HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 20\r\n\r\n0123456789')
      await new Promise((r) => setTimeout(r, 2000))
      assert.equal(c.state.ended, false, 'still open past server.request_timeout')
      c.socket.write('0123456789')
      assert.ok(await c.waitFor(() => c.responses() === 1))
      assert.deepEqual(statuses(c.state.text), [200])
      assert.match(c.state.text, /"bodyBytes":20/)
      c.socket.destroy()
    })

    it('an idle keep-alive connection is closed after keep_alive_timeout', async () => {
      const c = openConnection(port)
      await c.connected
      c.socket.write(GET('/a'))
      await c.waitFor(() => c.responses() === 1)
      const idleFrom = performance.now()
      assert.ok(await c.waitFor(() => c.state.ended, 4000))
      const idle = c.state.endedAt - idleFrom
      assert.ok(idle >= 800 && idle < 3000, `closed after ${Math.round(idle)} ms idle`)
    })
  })

  describe('bodies of refused requests (issue 11 item 7)', () => {
    let gateway: TestGateway
    let port: number
    before(async () => {
      gateway = await startGateway({ upstream: { url: upstream.url }, tokens: tokenIssuer(), routes: [{ path: '/*', auth: 'user' }] })
      port = gateway.running.gateway.port
    })
    after(() => gateway.close())

    it('a 401 for a 100 MB upload is sent at once and the connection closed, far short of reading the body', async () => {
      const c = openConnection(port)
      await c.connected
      const total = 100 * 1024 * 1024
      c.socket.write(`POST /upload HTTP/1.1\r\nHost: gw.test\r\nContent-Length: ${total}\r\n\r\n`)
      const chunk = Buffer.alloc(64 * 1024, 120)
      let written = 0
      await new Promise<void>((resolve) => {
        const pump = () => {
          while (written < total && !c.state.ended && !c.socket.destroyed) {
            written += chunk.length
            if (!c.socket.write(chunk)) return void c.socket.once('drain', pump)
          }
          resolve()
        }
        c.socket.once('close', () => resolve())
        pump()
      })
      await c.waitFor(() => c.state.ended)
      assert.deepEqual(statuses(c.state.text), [401])
      assert.match(c.state.text, /connection: close/i)
      assert.ok(written < 32 * 1024 * 1024, `the client could write ${written} bytes before the server closed`)
      assert.equal(upstream.received.filter((r) => r.url === '/upload').length, 0)
    })

    it('a small refused body is read and dropped, and the connection stays usable', async () => {
      const c = openConnection(port)
      await c.connected
      c.socket.write(`POST /small HTTP/1.1\r\nHost: gw.test\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(1000)}`)
      assert.ok(await c.waitFor(() => c.responses() === 1))
      c.socket.write(`GET /after HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer ${token}\r\n\r\n`)
      assert.ok(await c.waitFor(() => c.responses() === 2))
      assert.deepEqual(statuses(c.state.text), [401, 200])
      c.socket.destroy()
    })
  })
})
