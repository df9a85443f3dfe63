import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import type { Server as HttpsServer } from 'node:https'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import type { AddressInfo, Server, Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { request } from 'undici'
import { startGateway } from '../support/gateway.ts'
import type { TestGateway } from '../support/gateway.ts'

/** What the upstream answers on each path, as raw bytes (a function for answers written in steps). */
const ANSWERS: Record<string, string | ((socket: Socket) => Promise<void>)> = {
  '/ok': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nfine',
  '/chunked': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n',
  '/te-and-cl': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  '/two-lengths': 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc',
  '/folded': 'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 3\r\n\r\nabc',
  '/bare-lf': 'HTTP/1.1 200 OK\nContent-Length: 3\n\nabc',
  // A response followed by a second one nobody asked for: it must never reach the next request.
  '/smuggled': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged',
  '/interim':
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal',
  '/until-close': async (socket) => {
    socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nread until the upstream closes')
  },
  '/split-head': async (socket) => {
    for (const part of ['HTTP/1.1 2', '00 OK\r\nContent-Le', 'ngth: 5\r', '\n\r', '\nsplit']) {
      socket.write(part)
      await delay(20)
    }
  },
  '/slow': async (socket) => {
    await delay(150)
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow')
  },
  '/cut-short': async (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this much')
    await delay(50)
    socket.destroy()
  },
}

/** A raw upstream: answers each request's path from ANSWERS and counts the connections requests came on. */
async function startScriptedUpstream(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  let connections = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    // Counted once a request arrives on it: gatehouse's reachability probe only connects.
    socket.once('data', () => connections++)
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
    let buffered = ''
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1')
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const path = buffered.slice(0, buffered.indexOf('\r\n')).split(' ')[1] ?? ''
        buffered = buffered.slice(end + 4)
        const answer = ANSWERS[path] ?? ANSWERS['/ok']!
        if (typeof answer === 'string') socket.write(answer)
        else void answer(socket)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

describe("the upstream's responses, parsed strictly", () => {
  let upstream: Awaited<ReturnType<typeof startScriptedUpstream>>
  let gateway: TestGateway

  before(async () => {
    upstream = await startScriptedUpstream()
    gateway = await startGateway({ upstream: { url: upstream.url }, routes: [{ path: '/*', auth: 'none' }] })
  })
  after(async () => {
    await gateway.close()
    await upstream.close()
  })

  const get = async (path: string) => {
    const res = await request(`${gateway.url}${path}`)
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() }
  }

  it('passes a chunked body on decoded, and a body delimited by the connection close whole', async () => {
    const chunked = await get('/chunked')
    assert.equal(chunked.status, 200)
    assert.equal(chunked.body, 'abcdefg')
    const untilClose = await get('/until-close')
    assert.equal(untilClose.status, 200)
    assert.equal(untilClose.body, 'read until the upstream closes')
  })

  it('reads a head that arrives in pieces, and drops interim responses', async () => {
    assert.deepEqual(
      [await get('/split-head')].map((r) => [r.status, r.body]),
      [[200, 'split']],
    )
    const interim = await get('/interim')
    assert.equal(interim.status, 200)
    assert.equal(interim.body, 'final')
    assert.equal(interim.headers.link, undefined)
  })

  for (const path of ['/te-and-cl', '/two-lengths', '/folded', '/bare-lf']) {
    it(`answers 502 problem+json for an ambiguous or malformed response (${path}), on a fresh connection after`, async () => {
      const before = upstream.connections()
      const refused = await get(path)
      assert.equal(refused.status, 502)
      assert.equal(refused.headers['content-type'], 'application/problem+json')
      assert.doesNotMatch(refused.body, /abc/)
      const next = await get('/ok')
      assert.deepEqual([next.status, next.body], [200, 'fine'])
      assert.ok(upstream.connections() > before, 'the refused connection is not reused')
    })
  }

  it('never hands bytes after a response to the next request', async () => {
    const first = await get('/smuggled')
    assert.deepEqual([first.status, first.body], [200, 'ok'])
    for (let i = 0; i < 5; i++) {
      const next = await get('/ok')
      assert.deepEqual([next.status, next.body], [200, 'fine'])
    }
  })

  it('cuts the client connection when the upstream ends a body early, and serves the next request', async () => {
    await assert.rejects(get('/cut-short'))
    const entry = gateway.logs.find((l) => l.path === '/cut-short')
    assert.equal(entry?.error, 'upstream')
    const next = await get('/ok')
    assert.deepEqual([next.status, next.body], [200, 'fine'])
  })

  it('keeps a well-behaved connection for the next request', async () => {
    await get('/ok')
    const before = upstream.connections()
    for (let i = 0; i < 5; i++) await get('/ok')
    assert.equal(upstream.connections(), before)
  })
})

describe('a pool of one upstream connection', () => {
  let upstream: Awaited<ReturnType<typeof startScriptedUpstream>>
  let gateway: TestGateway

  before(async () => {
    upstream = await startScriptedUpstream()
    gateway = await startGateway({ upstream: { url: upstream.url, connections: 1, timeout: '1s' }, routes: [{ path: '/*', auth: 'none' }] })
  })
  after(async () => {
    await gateway.close()
    await upstream.close()
  })

  it('queues the requests beyond it and serves each in turn on the one connection', async () => {
    const started = performance.now()
    const answers = await Promise.all(
      ['/slow', '/slow', '/slow'].map(async (path) => {
        const res = await request(`${gateway.url}${path}`)
        return [res.statusCode, await res.body.text()]
      }),
    )
    assert.deepEqual(answers, [
      [200, 'slow'],
      [200, 'slow'],
      [200, 'slow'],
    ])
    assert.equal(upstream.connections(), 1)
    assert.ok(performance.now() - started >= 3 * 150 - 20, 'one request at a time')
  })

  it('holds a queued request to upstream.timeout, waiting included', async () => {
    const answers = await Promise.all(
      Array.from({ length: 10 }, async () => {
        const res = await request(`${gateway.url}/slow`)
        await res.body.text()
        return res.statusCode
      }),
    )
    // 150 ms each, one at a time: those still waiting after a second are answered 504.
    assert.ok(answers.includes(200) && answers.includes(504), JSON.stringify(answers))
    assert.deepEqual(
      answers.filter((s) => s !== 200 && s !== 504),
      [],
    )
  })
})

describe('an https upstream', () => {
  let dir: string
  let upstream: HttpsServer
  let url: string
  const servernames: (string | false | null)[] = []
  const children: ChildProcess[] = []

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-tls-'))
    execFileSync(
      'openssl',
      [
        ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'],
        ...[
          '-subj',
          '/CN=localhost',
          '-addext',
          'subjectAltName=DNS:localhost',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
      ],
      { stdio: 'ignore' },
    )
    upstream = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      servernames.push((req.socket as TLSSocket).servername)
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`secure ${req.url}`)
    })
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
    url = `https://localhost:${(upstream.address() as AddressInfo).port}`
  })
  after(async () => {
    for (const child of children) child.kill('SIGKILL')
    await new Promise((resolve) => upstream.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  })

  it('is reached over TLS with its name as SNI, verified against the trusted CAs (NODE_EXTRA_CA_CERTS)', { timeout: 60_000 }, async () => {
    const config = join(dir, 'gatehouse.yaml')
    writeFileSync(
      config,
      [
        'server: { listen: 127.0.0.1:0 }',
        'admin: { listen: 127.0.0.1:0 }',
        `upstream: { url: "${url}" }`,
        `store: { url: "sqlite:${join(dir, 'store.db')}" }`,
        'roles: [{ name: Member }]',
        'routes: [{ path: "/*", auth: none }]',
      ].join('\n'),
    )
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start', '--config', config], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    children.push(child)
    const started = await new Promise<{ gateway: string }>((resolve, reject) => {
      let out = ''
      child.stdout!.setEncoding('utf8').on('data', (text: string) => {
        out += text
        const line = out.split('\n').find((l) => l.includes('"gateway"'))
        if (line) resolve(JSON.parse(line) as { gateway: string })
      })
      child.once('exit', (code) => reject(new Error(`gatehouse exited with ${code}`)))
    })
    for (const path of ['/one', '/two']) {
      const res = await request(`http://${started.gateway}${path}`)
      assert.equal(res.statusCode, 200)
      assert.equal(await res.body.text(), `secure ${path}`)
    }
    assert.deepEqual(servernames, ['localhost', 'localhost'])
  })

  it('whose certificate is not trusted is a 502, and nothing is sent to it', async () => {
    const gateway = await startGateway({ upstream: { url }, routes: [{ path: '/*', auth: 'none' }] })
    try {
      const before = servernames.length
      const res = await request(`${gateway.url}/untrusted`)
      assert.equal(res.statusCode, 502)
      assert.equal(res.headers['content-type'], 'application/problem+json')
      await res.body.text()
      assert.equal(servernames.length, before)
    } finally {
      await gateway.close()
    }
  })
})
