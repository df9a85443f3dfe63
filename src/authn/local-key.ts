import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { importJWK, importSPKI } from 'jose'
import type { CryptoKey, JWK, JWSHeaderParameters } from 'jose'
import type { IssuerConfig, TokenAlgorithm } from '../config/index.ts'
import { InvalidTokenError } from './errors.ts'
import { isRecord } from './json.ts'

export type LocalKeyFunction = (protectedHeader: JWSHeaderParameters) => CryptoKey

type LocalKeyIssuer = Pick<IssuerConfig, 'issuer' | 'publicKey' | 'publicKeyFile' | 'algorithms'>

/**
 * Imports an issuer's `public_key` / `public_key_file` once, as one CryptoKey per pinned algorithm
 * (WebCrypto binds a key to one algorithm). A key that cannot serve every pinned algorithm is a
 * configuration error raised here, at load, rather than a token rejected at request time.
 */
export async function loadLocalKey(issuer: LocalKeyIssuer, configDir: string): Promise<LocalKeyFunction> {
  const text = await readKeyText(issuer, configDir)
  const importFor = keyImporter(issuer.issuer, text.trim())
  const byAlgorithm = new Map<string, CryptoKey>()
  for (const alg of issuer.algorithms) {
    byAlgorithm.set(alg, await importChecked(issuer, alg, importFor))
  }
  return (header) => {
    const key = typeof header.alg === 'string' ? byAlgorithm.get(header.alg) : undefined
    if (!key) throw new InvalidTokenError(`the token's algorithm is not pinned for issuer ${issuer.issuer}`)
    return key
  }
}

async function readKeyText(issuer: LocalKeyIssuer, configDir: string): Promise<string> {
  if (issuer.publicKeyFile === undefined) return issuer.publicKey ?? ''
  const file = path.resolve(configDir, issuer.publicKeyFile)
  try {
    return await readFile(file, 'utf8')
  } catch (error) {
    throw new Error(`issuer ${issuer.issuer}: cannot read public_key_file ${file}: ${(error as Error).message}`, { cause: error })
  }
}

function keyImporter(issuerName: string, text: string): (alg: TokenAlgorithm) => Promise<CryptoKey> {
  if (text.startsWith('-----BEGIN PUBLIC KEY-----')) return (alg) => importSPKI(text, alg)
  if (text.startsWith('{')) {
    const jwk = parseJwk(issuerName, text)
    return async (alg) => (await importJWK(jwk, alg)) as CryptoKey
  }
  throw new Error(`issuer ${issuerName}: the public key must be a PEM public key (-----BEGIN PUBLIC KEY-----) or a JWK in JSON`)
}

function parseJwk(issuerName: string, text: string): JWK {
  let jwk: unknown
  try {
    jwk = JSON.parse(text)
  } catch {
    throw new Error(`issuer ${issuerName}: the public key looks like JSON but does not parse`)
  }
  if (!isRecord(jwk) || typeof jwk.kty !== 'string') throw new Error(`issuer ${issuerName}: the public key is not a JWK`)
  // A symmetric or private key in the config would mean the verifier holds signing power.
  if (jwk.kty === 'oct' || Object.hasOwn(jwk, 'd')) {
    throw new Error(`issuer ${issuerName}: the public key must be a public key, not a secret or private key`)
  }
  if (jwk.use !== undefined && jwk.use !== 'sig')
    throw new Error(`issuer ${issuerName}: the JWK is not a signing key (use: ${String(jwk.use)})`)
  return jwk as JWK
}

async function importChecked(
  issuer: LocalKeyIssuer,
  alg: TokenAlgorithm,
  importFor: (alg: TokenAlgorithm) => Promise<CryptoKey>,
): Promise<CryptoKey> {
  const mismatch = (why: string, cause?: unknown) =>
    new Error(`issuer ${issuer.issuer}: the public key cannot verify ${alg} tokens (algorithms: ${issuer.algorithms.join(', ')}): ${why}`, {
      cause,
    })
  let key: CryptoKey
  try {
    key = await importFor(alg)
  } catch (error) {
    throw mismatch((error as Error).message, error)
  }
  if (key.type !== 'public') throw mismatch('it is not a public key')
  // jose refuses RSA keys under 2048 bits at verification; saying so now beats failing every request.
  const { modulusLength } = key.algorithm as { modulusLength?: number }
  if (modulusLength !== undefined && modulusLength < 2048)
    throw mismatch(`an RSA key of ${modulusLength} bits is too short (2048 at least)`)
  return key
}
