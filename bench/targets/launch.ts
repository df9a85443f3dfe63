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
 * A program a target's `node` runs under (`valgrind --tool=callgrind …` for bench/instructions.ts),
 * and how long the target may then take to be ready.
 */
export type Wrapper = { command: readonly string[]; readyTimeoutMs: number }

/** `node` with its arguments, under the wrapper when there is one. */
export function nodeCommand(args: readonly string[], wrapper?: Wrapper): [string, string[]] {
  if (!wrapper) return [process.execPath, [...args]]
  const [command, ...wrapperArgs] = wrapper.command
  return [command!, [...wrapperArgs, process.execPath, ...args]]
}

/**
 * Starts one of the bench's own node servers (upstream, node-proxy, fastify-stack: plain `.js`
 * files) in its own process, by `node` alone: no loader's hooks in a baseline's figures.
 */
export async function startNodeServer(name: string, script: string, args: string[], dir: string, wrapper?: Wrapper): Promise<Target> {
  const child: Child = spawnChild(name, ...nodeCommand([join(HERE, script), ...args], wrapper), {
    dir,
    cwd: ROOT,
  })
  try {
    const address = await waitForLine(child, parseListening, wrapper?.readyTimeoutMs)
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
