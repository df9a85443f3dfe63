import { hash, randomInt } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { DEFAULT_PREFIXES } from '../config/index.ts'
import type { ApiKeyType } from '../store/index.ts'

/**
 * The secret format: `PREFIX_` + 22 random base62 characters (131 bits) + a 6-character base62
 * CRC32 of everything before it — GitHub's scheme. The readable prefix names the key type and
 * lets secret scanners recognise a leaked key; the checksum lets gatehouse (and scanners) reject
 * a typo or a guess without a store lookup. The store keeps only the SHA-256 and a display fragment.
 */
export type ApiKeyPrefixes = Readonly<Record<ApiKeyType, string>>

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
const RANDOM_LENGTH = 22
const CHECKSUM_LENGTH = 6
const BODY = new RegExp(`^[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`)

export type GeneratedSecret = { secret: string; secret_hash: string; display: string }

export function generateApiKeySecret(type: ApiKeyType, prefixes: ApiKeyPrefixes = DEFAULT_PREFIXES): GeneratedSecret {
  let random = ''
  for (let i = 0; i < RANDOM_LENGTH; i++) random += ALPHABET[randomInt(ALPHABET.length)]
  const head = `${prefixes[type]}_${random}`
  const secret = head + checksum(head)
  return { secret, secret_hash: hashApiKeySecret(secret), display: displayOf(secret) }
}

/** The key type a well-formed secret claims, or undefined for anything that is not one (no I/O). */
export function parseApiKeySecret(secret: string, prefixes: ApiKeyPrefixes = DEFAULT_PREFIXES): ApiKeyType | undefined {
  const separator = secret.lastIndexOf('_')
  if (separator < 1) return undefined
  const prefix = secret.slice(0, separator)
  const body = secret.slice(separator + 1)
  if (!BODY.test(body)) return undefined
  const type = (Object.keys(prefixes) as ApiKeyType[]).find((t) => prefixes[t] === prefix)
  if (!type) return undefined
  const head = secret.slice(0, secret.length - CHECKSUM_LENGTH)
  return checksum(head) === secret.slice(-CHECKSUM_LENGTH) ? type : undefined
}

export function hashApiKeySecret(secret: string): string {
  return hash('sha256', secret, 'hex')
}

/** Enough of the secret for a person to tell keys apart; never enough to use it. */
export function displayOf(secret: string): string {
  const separator = secret.lastIndexOf('_')
  return separator > 0 ? `${secret.slice(0, separator + 5)}…` : `${secret.slice(0, 4)}…`
}

function checksum(text: string): string {
  let value = crc32(text)
  let out = ''
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[value % 62] + out
    value = Math.floor(value / 62)
  }
  return out
}
