/** Narrowing helpers for JSON that arrives from outside: token claims, fetched key sets. */

/** A verified token's payload. */
export type Claims = Readonly<Record<string, unknown>>

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

// As jose decodes JOSE segments: fatal on invalid UTF-8, a leading BOM dropped.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * A compact JWS segment's JSON, decoded as jose decodes it. The segment must be unpadded
 * base64url already (the caller checks), which Buffer decodes as jose does; throws on invalid
 * UTF-8 or JSON.
 */
export function parseJsonSegment(segment: string): unknown {
  return JSON.parse(strictUtf8.decode(Buffer.from(segment, 'base64url')))
}
