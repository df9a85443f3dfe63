import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { canConnect, freePort } from './services.ts'

export type Ingress = { url: string; log(): string; stop(): Promise<void> }

type Ports = { gatehouse: number; upstream: number }

const GUIDE = fileURLToPath(new URL('../../docs/FORWARD_AUTH.md', import.meta.url))

/** The configuration that follows `<!-- recipe: NAME -->` in docs/FORWARD_AUTH.md, as written there. */
function recipe(name: string): string {
  const text = readFileSync(GUIDE, 'utf8')
  const marker = text.indexOf(`<!-- recipe: ${name} -->`)
  assert.ok(marker >= 0, `docs/FORWARD_AUTH.md has no ${name} recipe`)
  const start = text.indexOf('\n', text.indexOf('```', marker)) + 1
  return text.slice(start, text.indexOf('\n```', start) + 1)
}

/** The recipe with the guide's addresses replaced by the test's; each must occur, so the guide cannot drift from what runs. */
function filled(text: string, replacements: Record<string, string>): string {
  for (const [from, to] of Object.entries(replacements)) {
    assert.ok(text.includes(from), `the recipe no longer contains ${from}`)
    text = text.replaceAll(from, to)
  }
  return text
}

/**
 * nginx `auth_request` in front of the upstream with gatehouse deciding: the guide's recipe inside
 * what a test run needs around it (foreground, one process, every file under `dir`, so it runs
 * unprivileged or as root alike).
 */
export function nginxConfig(dir: string, port: number, ports: Ports): string {
  const temp = (name: string) => join(dir, 'temp', name)
  const site = filled(recipe('nginx'), {
    'gatehouse:8080': `127.0.0.1:${ports.gatehouse}`,
    'app:3000': `127.0.0.1:${ports.upstream}`,
    'listen 80;': `listen 127.0.0.1:${port};`,
  })
  return `daemon off;
master_process off;
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 256; }
http {
  access_log ${join(dir, 'access.log')};
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};
${site}}
`
}

/** Caddy in front of the upstream: the guide's recipe after global options that keep Caddy's state under `dir`. */
export function caddyfile(dir: string, port: number, ports: Ports): string {
  const site = filled(recipe('caddy'), {
    ':80 {': `http://127.0.0.1:${port} {`,
    'gatehouse:8080': `127.0.0.1:${ports.gatehouse}`,
    'app:3000': `127.0.0.1:${ports.upstream}`,
  })
  return `{
  admin off
  auto_https off
  storage file_system ${join(dir, 'data')}
}

${site}`
}

export async function startNginx(binary: string, dir: string, ports: Ports): Promise<Ingress> {
  const port = await freePort()
  mkdirSync(join(dir, 'temp'), { recursive: true })
  const file = join(dir, 'nginx.conf')
  writeFileSync(file, nginxConfig(dir, port, ports))
  // -e: the log for errors before the config is read, which would otherwise go to /var/log/nginx.
  return startChild(binary, ['-p', dir, '-c', file, '-e', join(dir, 'error.log')], port, () => readText(join(dir, 'error.log')))
}

export async function startCaddy(binary: string, dir: string, ports: Ports): Promise<Ingress> {
  const port = await freePort()
  mkdirSync(join(dir, 'data'), { recursive: true })
  const file = join(dir, 'Caddyfile')
  writeFileSync(file, caddyfile(dir, port, ports))
  return startChild(binary, ['run', '--config', file, '--adapter', 'caddyfile'], port, undefined, {
    HOME: dir,
    XDG_DATA_HOME: join(dir, 'data'),
    XDG_CONFIG_HOME: join(dir, 'config'),
  })
}

async function startChild(
  binary: string,
  args: string[],
  port: number,
  logFile?: () => string,
  env: Record<string, string> = {},
): Promise<Ingress> {
  const child: ChildProcess = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const log = () => output + (logFile?.() ?? '')
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    })
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${binary} exited (${child.exitCode}) at start:\n${log()}`)
    if (await canConnect(port)) return { url: `http://127.0.0.1:${port}`, log, stop }
    await new Promise((r) => setTimeout(r, 50))
  }
  await stop()
  throw new Error(`${binary} did not listen on ${port}:\n${log()}`)
}

function readText(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : ''
}
