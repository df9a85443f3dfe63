import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ResponseParseError, ResponseParser } from '../../src/forward/index.ts'

type Parsed = { heads: [number, string[]][]; body: string; ends: boolean[] }

/** Feeds `chunks` to a parser and records what it reported; `close` then ends the connection. */
function parse(chunks: (string | Buffer)[], options: { bodyless?: boolean; close?: boolean } = {}): Parsed {
  const parsed: Parsed = { heads: [], body: '', ends: [] }
  const parser = new ResponseParser(
    {
      onHead: (status, headers) => void parsed.heads.push([status, headers]),
      onBody: (chunk) => void (parsed.body += chunk.toString('latin1')),
      onEnd: (reusable) => void parsed.ends.push(reusable),
    },
    options.bodyless ?? false,
  )
  for (const chunk of chunks) parser.feed(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk)
  if (options.close) parser.close()
  return parsed
}

/** Every way of cutting `text` in two, and one byte at a time. */
function splits(text: string): string[][] {
  const ways = [[...text]]
  for (let at = 1; at < text.length; at++) ways.push([text.slice(0, at), text.slice(at)])
  return ways
}

const refused = (chunks: string[], options?: { bodyless?: boolean; close?: boolean }) =>
  assert.throws(() => parse(chunks, options), ResponseParseError)

describe('ResponseParser', () => {
  it('reads a Content-Length response whole, however the reads cut it', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length:  5 \r\n\r\nhello'
    for (const chunks of splits(text)) {
      const parsed = parse(chunks)
      assert.deepEqual(parsed.heads, [[200, ['Content-Type', 'text/plain', 'Content-Length', '5']]])
      assert.equal(parsed.body, 'hello')
      assert.deepEqual(parsed.ends, [true])
    }
  })

  it('decodes a chunked body with extensions and trailers, however the reads cut it', () => {
    const text =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n'
    for (const chunks of splits(text)) {
      const parsed = parse(chunks)
      assert.equal(parsed.heads[0]![0], 200)
      assert.equal(parsed.body, 'hello 0123456789')
      assert.deepEqual(parsed.ends, [true])
    }
  })

  it('skips 100 and 103 interim responses and reports the final one only', () => {
    const parsed = parse([
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n',
    ])
    assert.deepEqual(parsed.heads, [[201, ['Content-Length', '0']]])
    assert.deepEqual(parsed.ends, [true])
  })

  it('reads a body without framing until the connection closes, and does not reuse it', () => {
    const parsed = parse(['HTTP/1.1 200 OK\r\n\r\nsome', ' more'], { close: true })
    assert.equal(parsed.body, 'some more')
    assert.deepEqual(parsed.ends, [false])
  })

  it('expects no body after HEAD, 204 and 304, whatever Content-Length says', () => {
    assert.deepEqual(parse(['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'], { bodyless: true }).ends, [true])
    assert.deepEqual(parse(['HTTP/1.1 204 No Content\r\n\r\n']).ends, [true])
    assert.deepEqual(parse(['HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n']).ends, [true])
  })

  it('reuses a connection only when the response allows it', () => {
    assert.deepEqual(parse(['HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n']).ends, [false])
    assert.deepEqual(parse(['HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n']).ends, [false])
    assert.deepEqual(parse(['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n']).ends, [false])
    assert.deepEqual(parse(['HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n']).ends, [true])
    assert.deepEqual(parse(['HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n']).ends, [true])
  })

  it('refuses every framing a recipient would have to guess at', () => {
    // Refused before the head is reported: the client gets a 502, not a head and a cut connection.
    const heads: number[] = []
    const parser = new ResponseParser({ onHead: (status) => void heads.push(status), onBody: () => {}, onEnd: () => {} }, false)
    assert.throws(
      () => parser.feed(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n')),
      ResponseParseError,
    )
    assert.deepEqual(heads, [])
    refused(['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'])
    refused(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n'])
    refused(['HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'])
    for (const length of ['5, 5', '-1', '1e1', '0x5', '']) refused([`HTTP/1.1 200 OK\r\nContent-Length: ${length}\r\n\r\nhello`])
  })

  it('refuses malformed status and header lines', () => {
    for (const status of [
      'HTTP/1.1 20 OK',
      'HTTP/2 200 OK',
      'HTTP/1.1  200 OK',
      'http/1.1 200 OK',
      'HTTP/1.1 200 O\u0000K',
      'HTTP/1.1 099 X',
    ]) {
      refused([`${status}\r\nContent-Length: 0\r\n\r\n`])
    }
    refused(['HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n'])
    refused(['HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n'])
    refused(['HTTP/1.1 200 OK\r\nX-A: a\nContent-Length: 0\r\n\r\n'])
    refused(['HTTP/1.1 200 OK\nContent-Length: 0\n\n'])
    refused(['HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n'])
    // Never a CRLF CRLF to wait for: refused at once, not at the headers deadline.
    refused(['HTTP/1.1 200 OK\nContent-Length: 0\n\n'])
    refused(['HTTP/1.1 200 OK\r\n', 'Content-Length: 0\r\n\n'])
    refused(['HTTP/1.1 200 OK\r\nX-A: a\u0000b\r\nContent-Length: 0\r\n\r\n'])
    refused(['HTTP/1.1 200 OK\r\nNo colon here\r\nContent-Length: 0\r\n\r\n'])
    refused(['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'])
    refused([`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`])
    refused(['HTTP/1.1 200 OK\r\n', `X-Big: ${'a'.repeat(17 * 1024)}`])
  })

  it('refuses malformed chunks', () => {
    const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
    refused([`${head}zz\r\nhello\r\n0\r\n\r\n`])
    refused([`${head}5\r\nhelloXX0\r\n\r\n`])
    refused([`${head}5\nhello\r\n0\r\n\r\n`])
    refused([`${head} 5\r\nhello\r\n0\r\n\r\n`])
    refused([`${head}5;${'x'.repeat(2000)}\r\nhello\r\n0\r\n\r\n`])
    refused([`${head}0\r\nBad Trailer\r\n\r\n`])
  })

  it('refuses bytes after the end of the response', () => {
    refused(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n'])
    refused(['HTTP/1.1 204 No Content\r\n\r\n', 'x'])
  })

  it('refuses a connection that ends before the response does', () => {
    refused(['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel'], { close: true })
    refused(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n'], { close: true })
    refused(['HTTP/1.1 200 OK\r\nContent-'], { close: true })
  })
})
