import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { createServer } from 'node:http'
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { WebSocket, WebSocketServer } from 'ws'
import type { RawData } from 'ws'
import { adminClient } from '../support/admin.ts'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'
import { propelauthClaims, startIssuer } from '../support/issuer.ts'
import type { TestIssuer } from '../support/issuer.ts'
import { exchange, statuses } from '../support/raw-upstream.ts'
import { serviceUrl } from '../support/services.ts'

/** One handshake as the upstream received it, and what arrived on its connection afterwards. */
type UpstreamHandshake = { url: string; rawHeaders: string[]; after: Buffer[]; closed: Promise<{ code: number }>; ws?: WebSocket }

type WsUpstream = {
  url: string
  handshakes: UpstreamHandshake[]
  header(h: UpstreamHandshake, name: string): string[]
  close(): Promise<void>
}

/**
 * A real WebSocket upstream (the `ws` server) behind a node:http server whose `upgrade` handler
 * records every handshake. By path: `.../forbidden` answers 403, `.../fake101` answers 200 with a
 * body that looks like a 101, an `Upgrade: foo` gets a raw 101 and an echo; anything else is a
 * WebSocket that greets, echoes, closes on `close-me` and tells its headers on `whoami`.
 */
async function startWsUpstream(): Promise<WsUpstream> {
  const handshakes: UpstreamHandshake[] = []
  const sockets = new Set<Socket>()
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 })
  // `/slow` is an HTTP request still under way when a shutdown begins.
  const server: Server = createServer((req, res) => {
    if (req.url === '/slow') setTimeout(() => res.writeHead(200).end('slow'), 600)
    else res.writeHead(404).end()
  })
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    let closed: (c: { code: number }) => void = () => {}
    const handshake: UpstreamHandshake = {
      url: req.url ?? '',
      rawHeaders: req.rawHeaders,
      after: head.length > 0 ? [head] : [],
      closed: new Promise((resolve) => (closed = resolve)),
    }
    handshakes.push(handshake)
    const record = () => socket.on('data', (chunk: Buffer) => handshake.after.push(chunk))
    if (handshake.url.includes('forbidden')) {
      record()
      socket.write('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 4\r\nx-upstream: yes\r\n\r\nnope')
      return
    }
    if (handshake.url.includes('fake101')) {
      record()
      const body = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`)
      return
    }
    if ((req.headers.upgrade ?? '').toLowerCase() === 'foo') {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n')
      socket.on('data', (chunk: Buffer) => socket.write(chunk))
      socket.on('end', () => socket.end())
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      handshake.ws = ws
      ws.on('close', (code) => closed({ code }))
      ws.send('hello from upstream')
      ws.on('message', (data: RawData, binary: boolean) => {
        const text = binary ? '' : data.toString()
        if (text === 'close-me') ws.close(4000, 'bye')
        else if (text === 'flood') for (let i = 0; i < FLOOD_MESSAGES; i++) ws.send(Buffer.alloc(1024 * 1024, i))
        else if (text === 'whoami') ws.send(JSON.stringify(req.rawHeaders))
        else ws.send(data, { binary })
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    handshakes,
    header: (h, name) => {
      const values: string[] = []
      for (let i = 0; i + 1 < h.rawHeaders.length; i += 2) if (h.rawHeaders[i]!.toLowerCase() === name) values.push(h.rawHeaders[i + 1]!)
      return values
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        wss.close()
        server.close(() => resolve())
      }),
  }
}

/** A client connected through the gateway, with every message it received queued. */
type Client = { ws: WebSocket; next(): Promise<RawData>; closed: Promise<{ code: number; reason: string }> }

function connectClient(url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers, maxPayload: 4 * 1024 * 1024 })
    const queue: RawData[] = []
    const waiting: ((d: RawData) => void)[] = []
    ws.on('message', (data) => {
      const take = waiting.shift()
      if (take) take(data)
      else queue.push(data)
    })
    const closed = new Promise<{ code: number; reason: string }>((done) =>
      ws.on('close', (code, reason) => done({ code, reason: reason.toString() })),
    )
    ws.once('open', () =>
      resolve({ ws, closed, next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((take) => waiting.push(take))) }),
    )
    ws.once('error', reject)
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected ${res.statusCode}`)))
  })
}

/** A handshake the gateway (or the upstream through it) answers with something other than 101. */
function refusedHandshake(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: IncomingMessage['headers']; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers })
    ws.once('open', () => reject(new Error('the handshake was accepted')))
    ws.once('error', () => {})
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
  })
}

const ADMIN_KEY = 'ws-admin-key-0123456789'
/** Megabytes the upstream sends at once on `flood`: well above what the loopback sockets on the way can hold. */
const FLOOD_MESSAGES = 48
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('WebSocket tunnels through the gateway', () => {
  let upstream: WsUpstream
  let issuer: TestIssuer
  let gateway: TestGateway
  let ws: string
  let port: number
  let user: string
  let member: string
  let orgAdmin: string
  const api = adminClient(() => gateway.adminUrl, ADMIN_KEY)

  before(async () => {
    upstream = await startWsUpstream()
    issuer = await startIssuer()
    gateway = await startGateway({
      upstream: { url: upstream.url },
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      store: { url: 'sqlite:./ws.db' },
      tokens: { issuers: [{ issuer: issuer.issuer, jwks_url: issuer.jwksUrl, algorithms: ['ES256'] }] },
      routes: [
        { path: '/ws/public/*', auth: 'none' },
        { path: '/ws/rated', auth: 'user', rate_limit: '2/1m' },
        { path: '/ws/org/:org_id/*', auth: 'org_member', min_role: 'Admin' },
        { path: '/ws/proto/*', auth: 'user', credentials_from: ['header', 'websocket_protocol'] },
        { path: '/ws/cookie/*', auth: 'user', credentials_from: ['cookie:session'] },
        { path: '/ws/foo/*', auth: 'none', upgrade: ['websocket', 'foo'] },
        { path: '/ws/open-proto/*', auth: 'none', credentials_from: ['websocket_protocol'] },
        { path: '/ws/*', auth: 'user' },
      ],
    })
    port = gateway.running.gateway.port
    ws = `ws://127.0.0.1:${port}`
    user = await issuer.sign(propelauthClaims('u-ws', { o1: { role: 'Member' } }))
    member = user
    orgAdmin = await issuer.sign(propelauthClaims('u-admin', { o1: { role: 'Admin' } }))
  })

  after(async () => {
    await gateway.close()
    await issuer.close()
    await upstream.close()
  })

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

  it('relays the 101 and echoes text both ways', async () => {
    const client = await connectClient(`${ws}/ws/chat`, { headers: bearer(user) })
    assert.equal((await client.next()).toString(), 'hello from upstream')
    client.ws.send('ping 1')
    assert.equal((await client.next()).toString(), 'ping 1')
    client.ws.close(1000)
    assert.equal((await client.closed).code, 1000)
  })

  it('carries 1 MB binary messages intact in both directions', async () => {
    const client = await connectClient(`${ws}/ws/big`, { headers: bearer(user) })
    await client.next()
    for (let i = 0; i < 3; i++) {
      const payload = randomBytes(1024 * 1024)
      client.ws.send(payload)
      const echoed = (await client.next()) as Buffer
      assert.equal(echoed.length, payload.length)
      assert.ok(echoed.equals(payload), 'the echoed megabyte differs')
    }
    client.ws.close()
    await client.closed
  })

  it('holds the upstream back while the client does not read (backpressure), and delivers everything once it does', async () => {
    const client = await connectClient(`${ws}/ws/slow-reader`, { headers: bearer(user) })
    await client.next()
    const h = upstream.handshakes.at(-1)!
    client.ws.pause()
    client.ws.send('flood')
    await wait(1000)
    // Had gatehouse read on regardless, the upstream's buffer would be empty and gatehouse's full.
    const held = h.ws!.bufferedAmount
    assert.ok(held > 16 * 1024 * 1024, `the upstream could hand off all but ${held} bytes to a client that reads nothing`)
    client.ws.resume()
    for (let i = 0; i < FLOOD_MESSAGES; i++) {
      const message = (await client.next()) as Buffer
      assert.equal(message.length, 1024 * 1024)
      assert.equal(message[0], i % 256)
    }
    client.ws.close()
    await client.closed
  })

  it('holds 50 concurrent tunnels, each with its own traffic', async () => {
    const clients = await Promise.all(Array.from({ length: 50 }, (_v, i) => connectClient(`${ws}/ws/many/${i}`, { headers: bearer(user) })))
    await Promise.all(clients.map((c) => c.next()))
    await Promise.all(
      clients.map(async (c, i) => {
        c.ws.send(`message ${i}`)
        assert.equal((await c.next()).toString(), `message ${i}`)
      }),
    )
    for (const c of clients) c.ws.close()
    await Promise.all(clients.map((c) => c.closed))
  })

  it('forwards identity headers and the assertion, strips spoofed identity headers and the consumed credential', async () => {
    const client = await connectClient(`${ws}/ws/who`, {
      headers: { ...bearer(user), 'X-Gatehouse-User-Id': 'u-evil', x_gatehouse_org_id: 'o-evil' },
    })
    await client.next()
    const h = upstream.handshakes.at(-1)!
    assert.deepEqual(upstream.header(h, 'x-gatehouse-user-id'), ['u-ws'])
    assert.deepEqual(upstream.header(h, 'x_gatehouse_org_id'), [])
    assert.equal(upstream.header(h, 'x-gatehouse-assertion').length, 1)
    assert.match(upstream.header(h, 'x-gatehouse-assertion')[0]!, /^[\w-]+\.[\w-]+\.[\w-]+$/)
    assert.deepEqual(upstream.header(h, 'authorization'), [])
    assert.deepEqual(upstream.header(h, 'x-forwarded-for'), ['127.0.0.1'])
    assert.equal(upstream.header(h, 'x-request-id').length, 1)
    assert.deepEqual(upstream.header(h, 'upgrade'), ['websocket'])
    assert.ok(!JSON.stringify(h.rawHeaders).includes(user), 'the token reached the upstream')
    client.ws.close()
    await client.closed
  })

  it('refuses a handshake without a credential with the 401 problem, and nothing reaches the upstream', async () => {
    const before = upstream.handshakes.length
    const refused = await refusedHandshake(`${ws}/ws/chat`)
    assert.equal(refused.status, 401)
    assert.equal(refused.headers['content-type'], 'application/problem+json')
    assert.equal(refused.headers['www-authenticate'], 'Bearer realm="gatehouse"')
    assert.deepEqual(JSON.parse(refused.body), {
      type: 'urn:gatehouse:problem:unauthorized',
      title: 'Unauthorized',
      status: 401,
      detail: 'No authorization header found',
    })
    assert.equal(upstream.handshakes.length, before)
  })

  it('refuses a handshake the role rule forbids with 403', async () => {
    const before = upstream.handshakes.length
    const refused = await refusedHandshake(`${ws}/ws/org/o1/feed`, { headers: bearer(member) })
    assert.equal(refused.status, 403)
    assert.equal((JSON.parse(refused.body) as { type: string }).type, 'urn:gatehouse:problem:forbidden')
    assert.equal(upstream.handshakes.length, before)
    const allowed = await connectClient(`${ws}/ws/org/o1/feed`, { headers: bearer(orgAdmin) })
    assert.deepEqual(upstream.header(upstream.handshakes.at(-1)!, 'x-gatehouse-org-id'), ['o1'])
    allowed.ws.close()
    await allowed.closed
  })

  it('spends a route budget per handshake and refuses the third with the 429 problem', async () => {
    const token = await issuer.sign(propelauthClaims('u-rated'))
    for (let i = 0; i < 2; i++) {
      const c = await connectClient(`${ws}/ws/rated`, { headers: bearer(token) })
      c.ws.close()
      await c.closed
    }
    const before = upstream.handshakes.length
    const refused = await refusedHandshake(`${ws}/ws/rated`, { headers: bearer(token) })
    assert.equal(refused.status, 429)
    const body = JSON.parse(refused.body) as Record<string, unknown>
    assert.equal(typeof body.wait_seconds, 'number')
    assert.deepEqual(body, {
      type: 'urn:gatehouse:problem:rate-limited',
      title: 'Too Many Requests',
      status: 429,
      detail: `Rate limit exceeded; retry in ${String(body.wait_seconds)} s`,
      wait_seconds: body.wait_seconds,
      user_facing_error: 'Too many requests, please try again later.',
      error_code: 'rate_limit_exceeded',
    })
    assert.ok(Number(refused.headers['retry-after']) >= 1)
    assert.equal(upstream.handshakes.length, before)
  })

  it('relays an upstream 403 as an ordinary response; the connection never becomes a tunnel', async () => {
    const refused = await refusedHandshake(`${ws}/ws/forbidden`, { headers: bearer(user) })
    assert.equal(refused.status, 403)
    assert.equal(refused.body, 'nope')
    assert.equal(refused.headers['x-upstream'], 'yes')
    assert.equal(refused.headers.connection, 'close')
  })

  it('passes the upstream closing on to the client with its code', async () => {
    const client = await connectClient(`${ws}/ws/closing`, { headers: bearer(user) })
    await client.next()
    client.ws.send('close-me')
    assert.deepEqual(await client.closed, { code: 4000, reason: 'bye' })
    await wait(50)
    const line = gateway.logs.filter((l) => l.msg === 'websocket' && l.path === '/ws/closing').at(-1)!
    assert.equal(line.closed_by, 'upstream')
  })

  it('closes the upstream connection when the client vanishes', async () => {
    const client = await connectClient(`${ws}/ws/vanish`, { headers: bearer(user) })
    await client.next()
    const h = upstream.handshakes.at(-1)!
    client.ws.terminate()
    const closed = await Promise.race([h.closed, wait(3000).then(() => 'still open')])
    assert.notEqual(closed, 'still open')
  })

  it('accepts the token from Sec-WebSocket-Protocol, echoes bearer and does not forward the token', async () => {
    const client = await connectClient(`${ws}/ws/proto/x`, { protocols: ['bearer', user] })
    assert.equal(client.ws.protocol, 'bearer')
    await client.next()
    const h = upstream.handshakes.at(-1)!
    assert.deepEqual(upstream.header(h, 'sec-websocket-protocol'), [])
    assert.deepEqual(upstream.header(h, 'x-gatehouse-user-id'), ['u-ws'])
    assert.ok(!JSON.stringify(h.rawHeaders).includes(user))
    client.ws.close()
    await client.closed
    const chat = await connectClient(`${ws}/ws/proto/x`, { protocols: ['bearer', user, 'chat'] })
    assert.equal(chat.ws.protocol, 'chat', 'the upstream chose among the other subprotocols')
    assert.deepEqual(upstream.header(upstream.handshakes.at(-1)!, 'sec-websocket-protocol'), ['chat'])
    chat.ws.close()
    await chat.closed
  })

  it('refuses a malformed or conflicting subprotocol credential with 400, and ignores it on a header-only route', async () => {
    const other = await issuer.sign(propelauthClaims('u-other'))
    const conflict = await refusedHandshake(`${ws}/ws/proto/x`, { protocols: ['bearer', other], headers: bearer(user) })
    assert.equal(conflict.status, 400)
    assert.match(conflict.body, /Two different credentials/)
    const last = await refusedHandshake(`${ws}/ws/proto/x`, { protocols: ['chat', 'bearer'] })
    assert.equal(last.status, 400)
    assert.equal((await refusedHandshake(`${ws}/ws/chat`, { protocols: ['bearer', user] })).status, 401)
    // A route without authentication reads no credential, yet strips the bearer pair: a malformed list is still a 400.
    const before = upstream.handshakes.length
    assert.equal((await refusedHandshake(`${ws}/ws/open-proto/x`, { protocols: ['chat', 'bearer'] })).status, 400)
    assert.equal(upstream.handshakes.length, before)
    const open = await connectClient(`${ws}/ws/open-proto/x`, { protocols: ['bearer', user] })
    assert.equal(open.ws.protocol, 'bearer')
    assert.deepEqual(upstream.header(upstream.handshakes.at(-1)!, 'sec-websocket-protocol'), [])
    open.ws.close()
    await open.closed
  })

  it('accepts the token from the route’s cookie, strips that cookie only, and refuses it from another origin', async () => {
    const client = await connectClient(`${ws}/ws/cookie/x`, { headers: { cookie: `theme=dark; session=${user}; lang=en` } })
    await client.next()
    const h = upstream.handshakes.at(-1)!
    assert.deepEqual(upstream.header(h, 'cookie'), ['theme=dark; lang=en'])
    assert.deepEqual(upstream.header(h, 'x-gatehouse-user-id'), ['u-ws'])
    client.ws.close()
    await client.closed
    const sameOrigin = await connectClient(`${ws}/ws/cookie/x`, {
      headers: { cookie: `session=${user}`, origin: `http://127.0.0.1:${port}` },
    })
    assert.deepEqual(upstream.header(upstream.handshakes.at(-1)!, 'cookie'), [])
    sameOrigin.ws.close()
    await sameOrigin.closed
    const before = upstream.handshakes.length
    const crossSite = await refusedHandshake(`${ws}/ws/cookie/x`, {
      headers: { cookie: `session=${user}`, origin: 'https://evil.example' },
    })
    assert.equal(crossSite.status, 403)
    const twice = await refusedHandshake(`${ws}/ws/cookie/x`, { headers: { cookie: `session=${user}; session=${user}` } })
    assert.equal(twice.status, 400)
    assert.equal(upstream.handshakes.length, before)
    // A plain request reads the route's cookie too (the upstream answers it: past authentication), but
    // an unsafe method with it only from this origin (CSRF; docs/END_USERS.md).
    assert.notEqual((await fetch(`${gateway.url}/ws/cookie/x`, { headers: { cookie: `session=${user}` } })).status, 401)
    const crossSitePost = await fetch(`${gateway.url}/ws/cookie/x`, {
      method: 'POST',
      headers: { cookie: `session=${user}`, origin: 'https://evil.example' },
    })
    assert.equal(crossSitePost.status, 403)
  })

  it('closes the tunnel of an API key when the key is archived through the admin API', async () => {
    const userId = String((await api('POST', '/v1/users', { email: 'ws-key@example.com' })).body.user_id)
    const created = await api('POST', '/v1/api_keys', { user_id: userId })
    assert.equal(created.status, 201)
    const client = await connectClient(`${ws}/ws/keyed`, { headers: { authorization: `Bearer ${String(created.body.api_key_token)}` } })
    await client.next()
    const other = await connectClient(`${ws}/ws/other-user`, { headers: bearer(user) })
    await other.next()
    assert.equal((await api('POST', `/v1/api_keys/${String(created.body.api_key_id)}/archive`, {})).status, 200)
    assert.deepEqual(await client.closed, { code: 1008, reason: 'credential no longer valid' })
    other.ws.send('still here')
    assert.equal((await other.next()).toString(), 'still here', 'another caller’s tunnel stayed open')
    other.ws.close()
    await other.closed
    const line = gateway.logs.filter((l) => l.msg === 'websocket' && l.path === '/ws/keyed').at(-1)!
    assert.equal(line.closed_by, 'revoked')
    assert.equal(line.user_id, userId)
  })

  it('closes the tunnels of a user that is disabled, whichever of its keys opened them', async () => {
    const userId = String((await api('POST', '/v1/users', { email: 'ws-disabled@example.com' })).body.user_id)
    const secrets = await Promise.all(
      [1, 2].map(async () => String((await api('POST', '/v1/api_keys', { user_id: userId })).body.api_key_token)),
    )
    const clients = await Promise.all(secrets.map((secret) => connectClient(`${ws}/ws/disabled`, { headers: bearer(secret) })))
    assert.equal((await api('POST', `/v1/users/${userId}/disable`)).status, 200)
    for (const c of clients) assert.equal((await c.closed).code, 1008)
    assert.equal((await refusedHandshake(`${ws}/ws/disabled`, { headers: bearer(secrets[0]!) })).status, 401)
  })

  it('writes one access-log line per tunnel at its end, with bytes each way and no secret', async () => {
    const client = await connectClient(`${ws}/ws/logged`, { headers: bearer(user) })
    await client.next()
    client.ws.send('x'.repeat(1000))
    await client.next()
    client.ws.close()
    await client.closed
    await wait(50)
    const lines = gateway.logs.filter((l) => l.msg === 'websocket' && l.path === '/ws/logged')
    assert.equal(lines.length, 1)
    const line = lines[0]!
    assert.equal(line.status, 101)
    assert.equal(line.route, '/ws/*')
    assert.equal(line.user_id, 'u-ws')
    assert.equal(typeof line.request_id, 'string')
    assert.equal(line.closed_by, 'client')
    assert.ok((line.bytes_from_client as number) > 1000 && (line.bytes_from_client as number) < 1100)
    assert.ok((line.bytes_from_upstream as number) > 1000)
    assert.ok((line.duration_ms as number) > 0)
    assert.ok(!JSON.stringify(gateway.logs).includes(user), 'a token reached the log')
  })

  it('tunnels a protocol other than websocket only where the route lists it', async () => {
    const handshake = (path: string) =>
      `GET ${path} HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\nraw bytes after the handshake`
    const allowed = await exchange(port, handshake('/ws/foo/x'), 500)
    assert.match(allowed, /^HTTP\/1\.1 101 /)
    assert.ok(allowed.endsWith('raw bytes after the handshake'), allowed)
    const before = upstream.handshakes.length
    const refused = await exchange(port, handshake('/ws/public/x'))
    assert.deepEqual(statuses(refused), [400])
    assert.match(refused, /Upgrading to foo is not allowed here/)
    assert.equal(upstream.handshakes.length, before)
  })

  describe('upgrade smuggling over raw sockets', () => {
    const handshake = (path: string, lines: string[] = []) =>
      [
        `GET ${path} HTTP/1.1`,
        'Host: gw.test',
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        ...lines,
        '',
        '',
      ].join('\r\n')
    const smuggled = 'GET /ws/public/smuggled HTTP/1.1\r\nHost: gw.test\r\n\r\n'

    it('h2c is never forwarded, not even on a route without authentication', async () => {
      const before = upstream.handshakes.length
      const response = await exchange(
        port,
        'GET /ws/public/x HTTP/1.1\r\nHost: gw.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
      )
      assert.deepEqual(statuses(response), [400])
      assert.match(response, /h2c upgrades are never forwarded/)
      assert.equal(upstream.handshakes.length, before)
    })

    it('a refused handshake followed by a pipelined request: only the refusal comes back, nothing reaches the upstream', async () => {
      const before = upstream.handshakes.length
      const response = await exchange(port, handshake('/ws/chat') + smuggled)
      assert.deepEqual(statuses(response), [401])
      assert.match(response, /connection: close/i)
      assert.equal(upstream.handshakes.length, before)
    })

    it('an upstream that answers 200 with a 101 in its body: relayed as 200, and the client’s next bytes never reach it', async () => {
      const before = upstream.handshakes.length
      const response = await exchange(port, handshake('/ws/public/fake101') + smuggled)
      assert.deepEqual(statuses(response).slice(0, 1), [200])
      assert.equal(upstream.handshakes.length, before + 1)
      await wait(100)
      assert.deepEqual(upstream.handshakes.at(-1)!.after, [], 'bytes sent after the handshake reached the upstream')
    })

    it('an upstream 403 with bytes pipelined behind the handshake: the bytes never reach the upstream', async () => {
      const response = await exchange(port, handshake('/ws/public/forbidden') + smuggled)
      assert.deepEqual(statuses(response), [403])
      await wait(100)
      assert.deepEqual(upstream.handshakes.at(-1)!.after, [])
    })

    it('an upgrade request with a body is refused', async () => {
      const before = upstream.handshakes.length
      const response = await exchange(port, handshake('/ws/public/x', ['Content-Length: 5']) + 'hello')
      assert.deepEqual(statuses(response), [400])
      assert.equal(upstream.handshakes.length, before)
    })

    it('two Authorization lines on a handshake are refused like on any request', async () => {
      const before = upstream.handshakes.length
      const response = await exchange(port, handshake('/ws/chat', [`Authorization: Bearer ${user}`, 'Authorization: Bearer other']))
      assert.deepEqual(statuses(response), [400])
      assert.equal(upstream.handshakes.length, before)
    })
  })
})

describe('WebSocket limits and shutdown', () => {
  let upstream: WsUpstream
  let gateway: TestGateway
  let ws: string

  before(async () => {
    upstream = await startWsUpstream()
    gateway = await startGateway({
      server: { listen: '127.0.0.1:0', shutdown_timeout: '2s', headers_timeout: '1s', keep_alive_timeout: '300ms' },
      upstream: { url: upstream.url, websocket_idle_timeout: '400ms' },
      rate_limits: { websocket_connections: 2 },
      routes: [{ path: '/*', auth: 'none' }],
    })
    ws = `ws://127.0.0.1:${gateway.running.gateway.port}`
  })

  after(async () => {
    await gateway.close()
    await upstream.close()
  })

  it('closes an idle tunnel with 1001 at both ends', async () => {
    const client = await connectClient(`${ws}/idle`)
    await client.next()
    const h = upstream.handshakes.at(-1)!
    const started = Date.now()
    assert.deepEqual(await client.closed, { code: 1001, reason: 'idle timeout' })
    assert.ok(Date.now() - started >= 300)
    assert.equal((await h.closed).code, 1001)
  })

  it('a busy tunnel outlives the idle timeout and the listener’s header and keep-alive deadlines', async () => {
    const client = await connectClient(`${ws}/busy`)
    await client.next()
    for (let i = 0; i < 12; i++) {
      await wait(200)
      client.ws.send(`tick ${i}`)
      assert.equal((await client.next()).toString(), `tick ${i}`)
    }
    client.ws.close()
    assert.equal((await client.closed).code, 1005)
  })

  it('caps concurrent tunnels per caller with a 429 problem, and frees the slot when one ends', async () => {
    const a = await connectClient(`${ws}/a`)
    const b = await connectClient(`${ws}/b`)
    const before = upstream.handshakes.length
    const refused = await refusedHandshake(`${ws}/c`)
    assert.equal(refused.status, 429)
    assert.deepEqual(JSON.parse(refused.body), {
      type: 'urn:gatehouse:problem:too-many-websockets',
      title: 'Too Many Requests',
      status: 429,
      detail: 'At most 2 WebSocket connections may be open at once',
      user_facing_error: 'Too many open connections, close one and try again.',
      error_code: 'websocket_connections_exceeded',
    })
    assert.equal(upstream.handshakes.length, before)
    a.ws.close()
    await a.closed
    await wait(50)
    const c = await connectClient(`${ws}/c`)
    b.ws.close()
    c.ws.close()
    await Promise.all([b.closed, c.closed])
  })

  it('shutdown closes open tunnels with 1001 once the HTTP request under way has finished', async () => {
    const client = await connectClient(`${ws}/last`)
    await client.next()
    const slow = fetch(`${gateway.url}/slow`)
    await wait(100)
    let closedAt = 0
    void client.closed.then(() => (closedAt = Date.now()))
    const closing = gateway.close()
    await wait(200)
    client.ws.send('during the drain')
    assert.equal((await client.next()).toString(), 'during the drain', 'the tunnel was cut before the HTTP request finished')
    const response = await slow
    const answeredAt = Date.now()
    assert.equal(await response.text(), 'slow')
    assert.deepEqual(await client.closed, { code: 1001, reason: 'gatehouse is shutting down' })
    assert.ok(closedAt >= answeredAt - 5, 'the tunnel closed before the in-flight request was answered')
    await closing
  })
})

const postgres = serviceUrl('POSTGRES')
const redis = serviceUrl('REDIS')

describe('WebSocket revocation across replicas (PostgreSQL and Redis)', { skip: postgres.skip ?? redis.skip }, () => {
  let upstream: WsUpstream
  let a: TestGateway
  let b: TestGateway
  const schema = `gh_ws_${randomBytes(4).toString('hex')}`

  before(async () => {
    upstream = await startWsUpstream()
    const store = new URL(postgres.url!)
    store.searchParams.set('schema', schema)
    const config = {
      admin: { listen: '127.0.0.1:0', api_key: ADMIN_KEY },
      upstream: { url: upstream.url },
      store: { url: store.href },
      redis: { url: redis.url!, key_prefix: `gh-ws-${randomBytes(4).toString('hex')}:` },
      routes: [{ path: '/*', auth: 'user' }],
    }
    a = await startGateway(config)
    b = await startGateway(config)
  })

  after(async () => {
    await a?.close()
    await b?.close()
    await upstream?.close()
    const client = new pg.Client({ connectionString: postgres.url })
    await client.connect()
    await client.query(`drop schema if exists ${schema} cascade`)
    await client.end()
  })

  it('a key archived through replica B closes the tunnel it opened through replica A', async () => {
    const api = adminClient(() => b.adminUrl, ADMIN_KEY)
    const userId = String((await api('POST', '/v1/users', { email: 'ws-replicas@example.com' })).body.user_id)
    const key = await api('POST', '/v1/api_keys', { user_id: userId })
    assert.equal(key.status, 201, JSON.stringify(key.body))
    const client = await connectClient(`ws://127.0.0.1:${a.running.gateway.port}/chat`, {
      headers: { authorization: `Bearer ${String(key.body.api_key_token)}` },
    })
    await client.next()
    assert.equal((await api('POST', `/v1/api_keys/${String(key.body.api_key_id)}/archive`, {})).status, 200)
    const closed = await Promise.race([client.closed, wait(5000).then(() => ({ code: 0, reason: 'still open' }))])
    assert.deepEqual(closed, { code: 1008, reason: 'credential no longer valid' })
  })
})
