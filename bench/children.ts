import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { processTree } from './proc.ts'

/** A server the bench started in its own process, so that its CPU can be read from /proc. */
export type Child = {
  name: string
  pid: number
  /** Where the child's stdout and stderr go: a file, so a chatty child never blocks on a full pipe. */
  logFile: string
  exited(): boolean
  stop(): Promise<void>
}

const running = new Set<ChildProcess>()
let spawned = 0

/**
 * Starts `command` with its output in a log file of its own under `dir`: numbered, because the
 * same server is started more than once and must never read an earlier instance's port.
 */
export function spawnChild(
  name: string,
  command: string,
  args: string[],
  options: { dir: string; cwd?: string; stdoutPipe?: boolean },
): Child {
  const logFile = join(options.dir, `${String(++spawned).padStart(2, '0')}-${name}.log`)
  const out = openSync(logFile, 'ax')
  // stdoutPipe: stdout is a pipe, as a container runtime collects a container's stdout, so that
  // the cost of logging to a pipe is what is measured. A process of its own (`cat` into the log
  // file) drains it, as the runtime's shim would: neither the load generator (this process) nor
  // the target's process tree pays for the draining.
  const drain = options.stdoutPipe ? spawn('cat', [], { stdio: ['pipe', out, out] }) : undefined
  const proc = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', drain ? drain.stdin! : out, out] })
  // The target holds the pipe's write end now; once it exits, `cat` reads the end and exits too.
  drain?.stdin!.destroy()
  closeSync(out)
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`)
  for (const started of drain ? [proc, drain] : [proc]) {
    running.add(started)
    started.once('exit', () => running.delete(started))
  }
  return {
    name,
    pid: proc.pid,
    logFile,
    exited: () => proc.exitCode !== null || proc.signalCode !== null,
    stop: () => stopProcess(proc),
  }
}

/** Stops every child still running: used in `finally` and on SIGINT. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map(stopProcess))
}

/** Last resort from an `exit` handler, where nothing asynchronous runs any more. */
export function killAllChildrenNow(): void {
  for (const proc of running) killTree(proc)
}

// The whole tree: nginx workers outlive a SIGKILLed master.
function killTree(proc: ChildProcess): void {
  if (proc.pid === undefined) return
  for (const pid of processTree(proc.pid).reverse()) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  proc.kill('SIGTERM')
  const timer = setTimeout(() => killTree(proc), 3000)
  await exited
  clearTimeout(timer)
}

/**
 * Polls the child's log for the first line `parse` accepts (its "listening on" announcement).
 * Fails fast when the child exits, with the log's tail, which says why.
 */
export async function waitForLine<T>(child: Child, parse: (line: string) => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const text = readFileSync(child.logFile, 'utf8')
    for (const line of text.split('\n')) {
      const value = parse(line)
      if (value !== undefined) return value
    }
    if (child.exited()) throw new Error(`${child.name} exited before it was ready:\n${tail(text)}`)
    if (Date.now() > deadline) throw new Error(`${child.name} not ready after ${timeoutMs} ms:\n${tail(text)}`)
    await sleep(50)
  }
}

/** For servers that announce nothing (nginx): ready once a TCP connection succeeds. */
export async function waitForPort(child: Child, port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await canConnect(port))) {
    if (child.exited()) throw new Error(`${child.name} exited before it was ready:\n${tail(readFileSync(child.logFile, 'utf8'))}`)
    if (Date.now() > deadline) throw new Error(`${child.name}: port ${port} not open after ${timeoutMs} ms`)
    await sleep(50)
  }
}

/** The `{"listening":"127.0.0.1:PORT"}` line the bench's own node servers print. */
export function parseListening(line: string): string | undefined {
  if (!line.startsWith('{"listening"')) return undefined
  const { listening } = JSON.parse(line) as { listening: string }
  return listening
}

/** For servers that cannot report an ephemeral port (nginx, HAProxy): one the kernel just handed out. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

function tail(text: string): string {
  return text.split('\n').slice(-20).join('\n')
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
