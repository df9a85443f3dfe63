import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { JWK } from 'jose'

/** One private key as persisted; the first entry of the file is the one that signs. */
export type StoredAssertionKey = {
  kid: string
  alg: 'EdDSA' | 'ES256'
  privateJwk: JWK
  /** ISO 8601. */
  createdAt: string
}

export type AssertionKeyFile = { keys: StoredAssertionKey[] }

/** The key file's content, or undefined when there is no file yet. */
export async function readAssertionKeyFile(file: string): Promise<AssertionKeyFile | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new Error(`${file}: the assertion key file is not JSON`)
  }
  const keys = (parsed as { keys?: unknown } | null)?.keys
  if (!Array.isArray(keys) || keys.length === 0 || !keys.every(isStoredAssertionKey)) {
    throw new Error(`${file}: expected { "keys": [{ "kid", "alg": "EdDSA"|"ES256", "privateJwk", "createdAt" }, …] }`)
  }
  return { keys }
}

function isStoredAssertionKey(value: unknown): value is StoredAssertionKey {
  const k = value as Partial<StoredAssertionKey> | null
  return (
    typeof k?.kid === 'string' &&
    (k.alg === 'EdDSA' || k.alg === 'ES256') &&
    typeof k.privateJwk === 'object' &&
    k.privateJwk !== null &&
    typeof k.createdAt === 'string'
  )
}

/**
 * Creates the file only if none exists, atomically: a hard link fails on an existing name, so
 * of replicas starting together on a shared volume exactly one key wins and the others load it.
 * Returns false when another process created the file first.
 */
export async function createAssertionKeyFile(file: string, content: AssertionKeyFile): Promise<boolean> {
  const tmp = await writeTemp(file, content)
  try {
    await link(tmp, file)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  } finally {
    await unlink(tmp)
  }
}

/** Replaces the file atomically: readers see the old keys or the new ones, never a torn file. */
export async function replaceAssertionKeyFile(file: string, content: AssertionKeyFile): Promise<void> {
  const tmp = await writeTemp(file, content)
  try {
    await rename(tmp, file)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    throw err
  }
}

// Private key material: owner-only from the first byte (mode at open, not a later chmod), and
// flushed to disk before it becomes visible under the real name.
async function writeTemp(file: string, content: AssertionKeyFile): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', 0o600)
  try {
    await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`)
    await handle.sync()
    await handle.close()
  } catch (err) {
    await handle.close().catch(() => undefined)
    await unlink(tmp).catch(() => undefined)
    throw err
  }
  return tmp
}
