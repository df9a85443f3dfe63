import { join } from 'node:path'
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
/** The repository: where `--import tsx` and `dist/` are found. */
export const ROOT = join(HERE, '..', '..')

/** Starts one of the bench's own node servers (upstream, node-proxy, fastify-stack) in its own process. */
export async function startNodeServer(name: string, script: string, args: string[], dir: string): Promise<Target> {
  const child: Child = spawnChild(name, process.execPath, ['--import', 'tsx', join(HERE, script), ...args], {
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
