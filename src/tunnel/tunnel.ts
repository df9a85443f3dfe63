import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { closeFrame, FrameCursor } from './frames.ts'

/** Why a tunnel ended, for the access log. */
export type TunnelEnd = 'client' | 'upstream' | 'idle' | 'revoked' | 'shutdown' | 'error'

export type TunnelStats = { end: TunnelEnd; bytesFromClient: number; bytesFromUpstream: number }

/** How long a closing tunnel waits for both ends to finish before it cuts them. */
export const CLOSE_GRACE_MS = 2_000

/** The WebSocket close codes gatehouse sends when it ends a tunnel itself. */
const CLOSE_CODES: Record<'idle' | 'revoked' | 'shutdown', { code: number; reason: string }> = {
  idle: { code: 1001, reason: 'idle timeout' },
  // 1008, policy violation: the credential that opened the tunnel no longer passes.
  revoked: { code: 1008, reason: 'credential no longer valid' },
  shutdown: { code: 1001, reason: 'gatehouse is shutting down' },
}

/**
 * Two sockets joined after a 101: bytes are copied both ways with backpressure (a side that
 * cannot take more pauses the other), and the tunnel ends when both sides have closed. When
 * gatehouse ends it (idle, revoked, shutdown), each side gets a close frame if the protocol is
 * WebSocket and the stream towards it is between frames, then the end of the connection.
 */
export class Tunnel {
  private readonly towardsUpstream = new FrameCursor()
  private readonly towardsClient = new FrameCursor()
  private bytesFromClient = 0
  private bytesFromUpstream = 0
  private end: TunnelEnd | undefined
  private closing = false
  private finished = false
  private grace: NodeJS.Timeout | undefined

  constructor(
    private readonly client: Socket,
    private readonly upstream: Duplex,
    private readonly options: {
      websocket: boolean
      idleTimeoutMs: number
      /** What each side sent past the handshake before the tunnel existed (Node's `head` buffers). */
      early: { fromClient: Buffer; fromUpstream: Buffer }
      onFinish: (stats: TunnelStats) => void
    },
  ) {
    this.pump(client, upstream, this.towardsUpstream, 'client', options.early.fromClient)
    this.pump(upstream, client, this.towardsClient, 'upstream', options.early.fromUpstream)
    // The client socket sees every byte either way, so its inactivity is the tunnel's.
    client.setTimeout(options.idleTimeoutMs, () => this.close('idle'))
  }

  private pump(from: Duplex, to: Duplex, cursor: FrameCursor, side: 'client' | 'upstream', early: Buffer): void {
    const copy = (chunk: Buffer): boolean => {
      if (side === 'client') this.bytesFromClient += chunk.length
      else this.bytesFromUpstream += chunk.length
      if (this.options.websocket) {
        cursor.feed(chunk)
        // Who ends a WebSocket is who sends the first close frame; the server closes TCP first either way.
        if (cursor.sawClose) this.end ??= side
      }
      return to.write(chunk)
    }
    if (early.length > 0) copy(early)
    from.on('data', (chunk: Buffer) => {
      if (!this.closing && !copy(chunk)) from.pause()
    })
    to.on('drain', () => {
      if (!this.closing) from.resume()
    })
    from.on('end', () => {
      this.end ??= side
      to.end()
    })
    from.on('error', () => {
      this.end ??= 'error'
      this.destroy()
    })
    from.on('close', () => {
      this.end ??= side
      // The other side has had its end() (or is destroyed); it gets a while to flush and answer.
      if (to.destroyed) this.finish()
      else this.graceThenDestroy()
    })
    from.resume()
  }

  /** Ends the tunnel from gatehouse's side: a close frame to each end where one fits, then the connection's end. */
  close(why: 'idle' | 'revoked' | 'shutdown'): void {
    if (this.closing || this.finished) return
    this.closing = true
    this.end ??= why
    const { code, reason } = CLOSE_CODES[why]
    this.closeSide(this.client, this.towardsClient, code, reason, false)
    this.closeSide(this.upstream, this.towardsUpstream, code, reason, true)
    // What either end still sends (its close frame in reply) is read and dropped.
    this.client.resume()
    this.upstream.resume()
    this.graceThenDestroy()
  }

  private closeSide(socket: Duplex, cursor: FrameCursor, code: number, reason: string, masked: boolean): void {
    if (socket.destroyed) return
    if (this.options.websocket && cursor.atBoundary && socket.writable) socket.end(closeFrame(code, reason, masked))
    else if (socket.writable) socket.end()
  }

  private graceThenDestroy(): void {
    this.grace ??= setTimeout(() => this.destroy(), CLOSE_GRACE_MS).unref()
    if (this.client.destroyed && this.upstream.destroyed) this.finish()
  }

  private destroy(): void {
    this.client.destroy()
    this.upstream.destroy()
    this.finish()
  }

  private finish(): void {
    if (this.finished || !(this.client.destroyed && this.upstream.destroyed)) return
    this.finished = true
    clearTimeout(this.grace)
    this.options.onFinish({ end: this.end ?? 'error', bytesFromClient: this.bytesFromClient, bytesFromUpstream: this.bytesFromUpstream })
  }
}
