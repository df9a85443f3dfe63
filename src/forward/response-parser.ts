/**
 * An upstream's HTTP/1.1 response, parsed strictly from the socket's bytes: a response whose end
 * cannot be known for sure is refused, never guessed at. A wrong guess would hand the rest of one
 * response to the next request on the connection (response desync), so every ambiguity that
 * RFC 9112 lets a recipient resolve is an error here instead: Transfer-Encoding with
 * Content-Length, a coding other than a lone `chunked`, several Content-Lengths, obs-fold,
 * whitespace before a colon, a bare CR or LF, bytes after the end of the response.
 */

/** What the parser reports as it goes. */
export type ResponseEvents = {
  /** The final response's head (1xx interim responses are skipped); names as sent, values trimmed. */
  onHead(status: number, headers: string[]): void
  onBody(chunk: Buffer): void
  /** The response ended; `reusable`: the connection may carry another request. */
  onEnd(reusable: boolean): void
}

/** Why a response was refused: the connection is no longer usable. */
export class ResponseParseError extends Error {
  readonly code = 'UPSTREAM_BAD_RESPONSE'
}

/** node:http's default `maxHeaderSize`, as undici applies it to responses. */
export const MAX_HEAD_BYTES = 16 * 1024
const MAX_CHUNK_LINE = 1024
const MAX_TRAILER_BYTES = 16 * 1024

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [\t\x20-\x7e\x80-\xff]*)?$/
// Every header line at once: a token, a colon, then field characters (HTAB, SP, VCHAR, obs-text).
// No CR or LF can be inside a line, so a bare one refuses the head; nor can a line start with
// whitespace (obs-fold) or have any before the colon.
const HEADER_LINES = /^(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n)*$/
const CHUNK_LINE = /^([0-9A-Fa-f]{1,12})(?:[\t ]*;[\t\x20-\x7e\x80-\xff]*)?$/
const DIGITS = /^\d{1,15}$/

const enum Stage {
  Head,
  Length,
  ChunkLine,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
  Done,
}

const CR = 13
const LF = 10

/**
 * One response on a connection. `feed` takes each chunk the socket reads; `close` is the socket's
 * end. `bodyless`: the request was HEAD, whose response has no body whatever its headers say.
 */
export class ResponseParser {
  private stage = Stage.Head
  private pending: Buffer | undefined
  private remaining = 0
  private keepAlive = true
  private line = ''
  private trailerBytes = 0

  constructor(
    private readonly events: ResponseEvents,
    private readonly bodyless: boolean,
  ) {}

  /** Whether the final head has been parsed. */
  get headParsed(): boolean {
    return this.stage !== Stage.Head
  }

  /** Parses `chunk`; throws a ResponseParseError, also for bytes after the response's end. */
  feed(chunk: Buffer): void {
    let at = 0
    while (at < chunk.length) {
      switch (this.stage) {
        case Stage.Head:
          at = this.head(chunk, at)
          break
        case Stage.Length:
          at = this.deliver(chunk, at)
          if (this.remaining === 0) this.end()
          break
        case Stage.ChunkLine:
        case Stage.Trailers:
          at = this.chunkLine(chunk, at)
          break
        case Stage.ChunkData:
          at = this.deliver(chunk, at)
          if (this.remaining === 0) {
            this.stage = Stage.ChunkEnd
            this.remaining = 2
          }
          break
        case Stage.ChunkEnd:
          if (chunk[at] !== (this.remaining === 2 ? CR : LF)) throw new ResponseParseError('a chunk is not followed by CRLF')
          at++
          if (--this.remaining === 0) this.stage = Stage.ChunkLine
          break
        case Stage.UntilClose:
          this.events.onBody(at === 0 ? chunk : chunk.subarray(at))
          at = chunk.length
          break
        case Stage.Done:
          throw new ResponseParseError('the upstream sent bytes after the end of its response')
      }
    }
  }

  /** Hands on the body's next bytes from `at`, up to `remaining` of them; returns where it stopped. */
  private deliver(chunk: Buffer, at: number): number {
    const take = Math.min(this.remaining, chunk.length - at)
    this.remaining -= take
    this.events.onBody(at === 0 && take === chunk.length ? chunk : chunk.subarray(at, at + take))
    return at + take
  }

  /** The connection ended: the end of a body delimited by it, else a response cut short. */
  close(): void {
    if (this.stage === Stage.UntilClose) {
      this.stage = Stage.Done
      this.events.onEnd(false)
      return
    }
    if (this.stage !== Stage.Done) throw new ResponseParseError('the upstream closed the connection before its response ended')
  }

  private head(chunk: Buffer, at: number): number {
    // A head split across reads is searched again as a whole: rare, and bounded by MAX_HEAD_BYTES.
    const carried = this.pending?.length ?? 0
    const data = this.pending ? Buffer.concat([this.pending, chunk.subarray(at)]) : chunk
    const from = this.pending ? 0 : at
    const end = data.indexOf('\r\n\r\n', from, 'latin1')
    if (end < 0) {
      if (data.length - from > MAX_HEAD_BYTES) throw new ResponseParseError('the response head is too large')
      if (hasBareLf(data, from)) throw new ResponseParseError('a line of the response head ends in a bare LF')
      this.pending = from === 0 ? data : data.subarray(from)
      return chunk.length
    }
    if (end - from > MAX_HEAD_BYTES) throw new ResponseParseError('the response head is too large')
    this.pending = undefined
    this.parseHead(data.toString('latin1', from, end + 2))
    return data === chunk ? end + 4 : at + end + 4 - carried
  }

  /** `text`: the status line and the header lines, each with its CRLF. */
  private parseHead(text: string): void {
    const firstEnd = text.indexOf('\r\n')
    const status = STATUS_LINE.exec(text.slice(0, firstEnd))
    if (!status) throw new ResponseParseError('the status line is malformed')
    const code = Number(status[2])
    const block = text.slice(firstEnd + 2)
    if (!HEADER_LINES.test(block)) throw new ResponseParseError('a header line is malformed')
    if (code < 200) {
      // 101 would switch protocols, which no forwarded request asks for; 100 and 103 are dropped.
      if (code === 101) throw new ResponseParseError('the upstream switched protocols unasked')
      return
    }
    const headers: string[] = []
    let contentLength: string | undefined
    let transferEncoding: string | undefined
    let connection = ''
    let lineStart = 0
    while (lineStart < block.length) {
      const lineEnd = block.indexOf('\r\n', lineStart)
      const colon = block.indexOf(':', lineStart)
      const name = block.slice(lineStart, colon)
      const value = trimOws(block.slice(colon + 1, lineEnd))
      lineStart = lineEnd + 2
      headers.push(name, value)
      switch (name.length) {
        case 14:
          if (name.toLowerCase() === 'content-length') {
            if (contentLength !== undefined) throw new ResponseParseError('the response has several Content-Lengths')
            contentLength = value
          }
          break
        case 17:
          if (name.toLowerCase() === 'transfer-encoding')
            transferEncoding = transferEncoding === undefined ? value : `${transferEncoding},${value}`
          break
        case 10:
          if (name.toLowerCase() === 'connection') connection = `${connection},${value.toLowerCase()}`
          break
      }
    }
    // HTTP/1.0 keeps a connection only when asked to; HTTP/1.1 unless told to close it.
    if (status[1] === '0') this.keepAlive = /(?:^|,)\s*keep-alive\s*(?:,|$)/.test(connection)
    else if (connection !== '') this.keepAlive = !/(?:^|,)\s*close\s*(?:,|$)/.test(connection)
    // The framing is decided, or refused, before the head is reported: a refused response is a
    // 502 for the client, not a head followed by a cut connection.
    const stage = this.bodyless || code === 204 || code === 304 ? Stage.Done : framingOf(transferEncoding, contentLength)
    if (stage === Stage.Length) this.remaining = Number(contentLength)
    if (stage === Stage.UntilClose) this.keepAlive = false
    this.events.onHead(code, headers)
    this.stage = stage
    if (stage === Stage.Done || (stage === Stage.Length && this.remaining === 0)) this.end()
  }

  /** A chunk-size line, or in the trailer section a trailer line, possibly split across reads. */
  private chunkLine(chunk: Buffer, at: number): number {
    const lf = chunk.indexOf(LF, at)
    const upTo = lf < 0 ? chunk.length : lf + 1
    this.line += chunk.toString('latin1', at, upTo)
    const limit = this.stage === Stage.Trailers ? MAX_TRAILER_BYTES - this.trailerBytes : MAX_CHUNK_LINE
    if (this.line.length > limit) throw new ResponseParseError('a chunk line or the trailer section is too large')
    if (lf < 0) return upTo
    const line = this.line
    this.line = ''
    if (line.length < 2 || line.charCodeAt(line.length - 2) !== CR) throw new ResponseParseError('a chunk line does not end in CRLF')
    const text = line.slice(0, -2)
    if (this.stage === Stage.Trailers) {
      this.trailerBytes += line.length
      if (text === '') this.end()
      else if (!HEADER_LINES.test(line)) throw new ResponseParseError('a trailer line is malformed')
      return upTo
    }
    const size = CHUNK_LINE.exec(text)
    if (!size) throw new ResponseParseError('a chunk size is malformed')
    this.remaining = parseInt(size[1]!, 16)
    this.stage = this.remaining === 0 ? Stage.Trailers : Stage.ChunkData
    return upTo
  }

  private end(): void {
    this.stage = Stage.Done
    this.events.onEnd(this.keepAlive)
  }
}

function framingOf(transferEncoding: string | undefined, contentLength: string | undefined): Stage {
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) throw new ResponseParseError('the response has both Transfer-Encoding and Content-Length')
    if (transferEncoding.trim().toLowerCase() !== 'chunked')
      throw new ResponseParseError('the response has a transfer coding other than chunked')
    return Stage.ChunkLine
  }
  if (contentLength === undefined) return Stage.UntilClose
  if (!DIGITS.test(contentLength)) throw new ResponseParseError('the response has a malformed Content-Length')
  return Stage.Length
}

/** An LF without its CR: the head can never end in CRLF CRLF, so it is refused now rather than waited for. */
function hasBareLf(data: Buffer, from: number): boolean {
  for (let at = data.indexOf(LF, from); at >= 0; at = data.indexOf(LF, at + 1)) {
    if (at === from || data[at - 1] !== CR) return true
  }
  return false
}

function trimOws(value: string): string {
  let start = 0
  let end = value.length
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--
  return start === 0 && end === value.length ? value : value.slice(start, end)
}
