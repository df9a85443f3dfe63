import { randomBytes } from 'node:crypto'

/**
 * Follows one direction of a WebSocket byte stream frame by frame without decoding payloads, so
 * that gatehouse knows when it may put a frame of its own (a close) between two of the peer's:
 * a close frame written into the middle of a frame would corrupt the stream instead of closing it.
 */
export class FrameCursor {
  private readonly header = Buffer.alloc(14)
  private headerLength = 0
  private payloadLeft = 0
  /** Whether a close frame has started on this stream: its sender began the closing handshake. */
  sawClose = false

  /** True between frames: nothing of a started frame is still to come. */
  get atBoundary(): boolean {
    return this.headerLength === 0 && this.payloadLeft === 0
  }

  feed(chunk: Buffer): void {
    let at = 0
    while (at < chunk.length) {
      if (this.payloadLeft > 0) {
        const skipped = Math.min(this.payloadLeft, chunk.length - at)
        this.payloadLeft -= skipped
        at += skipped
        continue
      }
      this.header[this.headerLength++] = chunk[at++]!
      if (this.headerLength >= 2 && this.headerLength === headerSize(this.header)) {
        if ((this.header[0]! & 0x0f) === CLOSE_OPCODE) this.sawClose = true
        this.payloadLeft = payloadLength(this.header)
        this.headerLength = 0
      }
    }
  }
}

const CLOSE_OPCODE = 0x8

/** Base header, extended length and masking key (RFC 6455 §5.2). */
function headerSize(header: Buffer): number {
  const length7 = header[1]! & 0x7f
  return 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + (header[1]! & 0x80 ? 4 : 0)
}

function payloadLength(header: Buffer): number {
  const length7 = header[1]! & 0x7f
  if (length7 === 126) return header.readUInt16BE(2)
  if (length7 === 127) return Number(header.readBigUInt64BE(2))
  return length7
}

/**
 * A close frame (RFC 6455 §5.5.1) with a status code and a short reason; masked towards the
 * upstream, as every frame a client sends must be.
 */
export function closeFrame(code: number, reason: string, masked: boolean): Buffer {
  const payload = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason.slice(0, 120))])
  const head = Buffer.from([0x88, (masked ? 0x80 : 0) | payload.length])
  if (!masked) return Buffer.concat([head, payload])
  const mask = randomBytes(4)
  for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!
  return Buffer.concat([head, mask, payload])
}
