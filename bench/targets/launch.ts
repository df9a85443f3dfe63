import { existsSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseListening, spawnChild, waitForLine } from '../children.ts'
import type { Child } from '../children.ts'

/** A running server under test: its process (tree root) for /proc, and where to send requests. */
export type Target = {
  name: string
  pid: number
  origin: string
  /** gatehouse's admin listener (its management API when `admin.api_key` is set); other targets have none. */
  adminOrigin?: string
  exited(): boolean
  stop(): Promise<void>
}

const HERE = fileURLToPath(new URL('.', import.meta.url))
/** The repository: where `dist/` and node_modules are found. */
export const ROOT = join(HERE, '..', '..')

/**
 * Starts one of the bench's own node servers (upstream, node-proxy, fastify-stack: plain `.js`
 * files) in its own process, by `node` alone: no loader's hooks in a baseline's figures.
 */
export async function startNodeServer(name: string, script: string, args: string[], dir: string): Promise<Target> {
  const child: Child = spawnChild(name, process.execPath, [join(HERE, script), ...args], {
    dir,
    cwd: ROOT,
  })
  try {
    const address = await waitForLine(child, parseListening)
    return { name, pid: child.pid, origin: `http://${address}`, exited: child.exited, stop: child.stop }
  } catch (error) {
    await child.stop()
    throw error
  }
}

/** A program on PATH or in the sbin folders where Debian's packages (nginx-light, haproxy) put it, if any. */
export function findSystemBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin']
  return dirs.map((dir) => join(dir, name)).find((file) => existsSync(file))
}
