import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { closeFrame, FrameCursor } from '../../src/tunnel/index.ts'

/** Binary frames laid out as RFC 6455 §5.2 says: masked (a client's) or not (a server's), in the shortest length encoding. */
function framesOf(payloads: Buffer[], mask: boolean): Buffer {
  return Buffer.concat(
    payloads.map((data) => {
      const length =
        data.length < 126 ? [data.length] : data.length < 65_536 ? [126, data.length >> 8, data.length & 0xff] : [127, 0, 0, 0, 0]
      const head = Buffer.from([0x82, (mask ? 0x80 : 0) | length[0]!, ...length.slice(1)])
      const extended64 = data.length >= 65_536 ? Buffer.alloc(4) : Buffer.alloc(0)
      if (extended64.length > 0) extended64.writeUInt32BE(data.length)
      return Buffer.concat([head, extended64, mask ? Buffer.from([1, 2, 3, 4]) : Buffer.alloc(0), data])
    }),
  )
}

describe('FrameCursor', () => {
  const sizes = [0, 1, 125, 126, 65_535, 65_536, 200_000]

  for (const mask of [false, true]) {
    it(`is at a boundary exactly after each whole frame, for 7-, 16- and 64-bit lengths (${mask ? 'masked' : 'unmasked'})`, () => {
      const payloads = sizes.map((size) => Buffer.alloc(size, 7))
      const stream = framesOf(payloads, mask)
      const ends = new Set<number>()
      let at = 0
      for (const p of payloads) {
        at += framesOf([p], mask).length
        ends.add(at)
      }
      // Fed one byte at a time, then in uneven chunks: the boundary never depends on how TCP cut the stream.
      const cursor = new FrameCursor()
      for (let i = 0; i < stream.length; i++) {
        cursor.feed(stream.subarray(i, i + 1))
        assert.equal(cursor.atBoundary, ends.has(i + 1), `after byte ${i + 1}`)
      }
      const chunked = new FrameCursor()
      for (let i = 0; i < stream.length; i += 4093) chunked.feed(stream.subarray(i, i + 4093))
      assert.ok(chunked.atBoundary)
      assert.equal(chunked.sawClose, false)
    })
  }

  it('notices a close frame', () => {
    const cursor = new FrameCursor()
    cursor.feed(framesOf([Buffer.from('x')], true))
    assert.equal(cursor.sawClose, false)
    cursor.feed(closeFrame(1000, 'bye', true))
    assert.equal(cursor.sawClose, true)
    assert.ok(cursor.atBoundary)
  })
})

describe('closeFrame', () => {
  it('is a final close frame with the code and reason, masked towards an upstream', () => {
    assert.deepEqual([...closeFrame(1001, 'bye', false)], [0x88, 5, 0x03, 0xe9, ...Buffer.from('bye')])
    const masked = closeFrame(1008, 'no', true)
    assert.equal(masked[0], 0x88)
    assert.equal(masked[1], 0x80 | 4)
    const key = masked.subarray(2, 6)
    const payload = Buffer.from(masked.subarray(6).map((byte, i) => byte ^ key[i % 4]!))
    assert.deepEqual([...payload], [0x03, 0xf0, ...Buffer.from('no')])
  })
})
