import { connect, createServer } from 'node:net'
import type { AddressInfo, Server, Socket } from 'node:net'

/** One request exactly as its bytes arrived at the upstream. */
export type RawReceived = {
  /** The request line and header lines, CRLFs included, up to and including the empty line. */
  head: string
  requestLine: string
  /** Header lines as [name, value] in arrival order, names as sent. */
  headers: [string, string][]
  /** The body after de-chunking; the framing itself is in `head`. */
  body: Buffer
  /** Chunked trailer lines, if the upstream was sent any. */
  trailers: string[]
}

export type RawUpstream = {
  url: string
  received: RawReceived[]
  /** Every header value with this name (case-insensitive) in the last request. */
  values(name: string, request?: RawReceived): string[]
  last(): RawReceived
  close(): Promise<void>
}

/**
 * An upstream that parses requests from the socket bytes itself, so that a test can assert exactly
 * what gatehouse sent: header lines and their order, duplicates, framing and trailers. It answers
 * every request with `200 ok` and keeps the connection alive, as undici expects.
 */
export async function startRawUpstream(): Promise<RawUpstream> {
  const received: RawReceived[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    let buffer = Buffer.alloc(0)
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk])
      for (;;) {
        const parsed = parseRequest(buffer)
        if (!parsed) return
        received.push(parsed.request)
        buffer = buffer.subarray(parsed.length)
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok')
      }
    })
    socket.on('error', () => socket.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  const last = () => {
    const r = received.at(-1)
    if (!r) throw new Error('the upstream received nothing')
    return r
  }
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    last,
    values: (name, request = last()) => request.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

function parseRequest(buffer: Buffer): { request: RawReceived; length: number } | undefined {
  const end = buffer.indexOf('\r\n\r\n')
  if (end === -1) return undefined
  const head = buffer.subarray(0, end + 4).toString('latin1')
  const [requestLine = '', ...lines] = head.slice(0, -4).split('\r\n')
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(':')
    return [line.slice(0, colon), line.slice(colon + 1).trim()]
  })
  const header = (name: string) => headers.find(([n]) => n.toLowerCase() === name)?.[1]
  let at = end + 4
  if (header('transfer-encoding')?.toLowerCase() === 'chunked') {
    const chunks: Buffer[] = []
    for (;;) {
      const eol = buffer.indexOf('\r\n', at)
      if (eol === -1) return undefined
      const size = parseInt(buffer.subarray(at, eol).toString('latin1'), 16)
      at = eol + 2
      if (size === 0) break
      if (buffer.length < at + size + 2) return undefined
      chunks.push(buffer.subarray(at, at + size))
      at += size + 2
    }
    const trailers: string[] = []
    for (;;) {
      const eol = buffer.indexOf('\r\n', at)
      if (eol === -1) return undefined
      const line = buffer.subarray(at, eol).toString('latin1')
      at = eol + 2
      if (line === '') break
      trailers.push(line)
    }
    return { request: { head, requestLine, headers, body: Buffer.concat(chunks), trailers }, length: at }
  }
  const length = Number(header('content-length') ?? '0')
  if (buffer.length < at + length) return undefined
  return { request: { head, requestLine, headers, body: buffer.subarray(at, at + length), trailers: [] }, length: at + length }
}

/** What came back for bytes written to a fresh connection: everything until the server closed or `waitMs` passed. */
export function exchange(port: number, bytes: string | Buffer, waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(Buffer.concat(chunks).toString('latin1'))
    }
    const timer = setTimeout(done, waitMs)
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', done)
    socket.on('error', done)
    socket.write(bytes)
  })
}

/** The status codes of every response in a raw exchange, in order (100 Continue included). */
export function statuses(responses: string): number[] {
  return [...responses.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]))
}
