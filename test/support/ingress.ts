import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { canConnect, freePort } from './services.ts'

/** The identity headers gatehouse answers (default prefix), in the order the recipes copy them. */
export const IDENTITY_SUFFIXES = [
  'Principal',
  'Auth-Method',
  'User-Id',
  'Email',
  'Impersonator-User-Id',
  'Org-Id',
  'Org-Name',
  'Org-Role',
  'Org-Permissions',
  'Api-Key-Id',
  'Assertion',
] as const

/**
 * The binary a suite drives, or why it cannot run: printed as a skip, or (GATEHOUSE_REQUIRE_SERVICES=1)
 * registered as a failing test, as for the other real services.
 */
export function ingressBinary(name: string, file: string): { file?: string; skip?: string } {
  if (existsSync(file)) return { file }
  const reason = `${file} is not installed (apt-get install ${name === 'nginx' ? 'nginx-light' : name})`
  if (process.env.GATEHOUSE_REQUIRE_SERVICES === '1') test(`${name} is installed (GATEHOUSE_REQUIRE_SERVICES=1)`, () => assert.fail(reason))
  else console.log(`# skipping the ${name} suite: ${reason}`)
  return { skip: reason }
}

export type Ingress = { url: string; log(): string; stop(): Promise<void> }

type Ports = { gatehouse: number; upstream: number }

/**
 * nginx `auth_request` in front of the upstream with gatehouse deciding: the recipe of
 * docs/FORWARD_AUTH.md, with paths and ports filled in. Foreground, one process, every file
 * under `dir`, so it runs unprivileged or as root alike.
 */
export function nginxConfig(dir: string, port: number, ports: Ports): string {
  const temp = (name: string) => join(dir, 'temp', name)
  const copies = IDENTITY_SUFFIXES.map((suffix) => {
    const variable = `gh_${suffix.toLowerCase().replaceAll('-', '_')}`
    return {
      set: `      auth_request_set $${variable} $upstream_http_x_gatehouse_${suffix.toLowerCase().replaceAll('-', '_')};`,
      send: `      proxy_set_header X-Gatehouse-${suffix} $${variable};`,
    }
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
  upstream gatehouse { server 127.0.0.1:${ports.gatehouse}; }
  upstream app { server 127.0.0.1:${ports.upstream}; }
  server {
    listen 127.0.0.1:${port};

    # The decision call: internal (a client cannot reach it), no body, the original request in
    # X-Original-*, and the other convention's headers cleared so a client cannot add them.
    location = /.gatehouse/auth {
      internal;
      proxy_pass http://gatehouse;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Forwarded-Method "";
      proxy_set_header X-Forwarded-Uri "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }

    location / {
      auth_request /.gatehouse/auth;
      # Set after every decision, whatever its status: the 429 branch below reads them.
      auth_request_set $gh_status $upstream_status;
      auth_request_set $gh_retry_after $upstream_http_retry_after;
      auth_request_set $gh_request_id $upstream_http_x_request_id;
${copies.map((c) => c.set).join('\n')}
      # auth_request turns a 429 into 500; this gives the client the 429 and its Retry-After.
      error_page 500 = @gatehouse_error;

      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Request-Id $gh_request_id;
      # Each one replaces what the client sent under that name; an empty value (not in the
      # answer) removes it.
${copies.map((c) => c.send).join('\n')}
    }

    location @gatehouse_error {
      default_type application/problem+json;
      if ($gh_status = 429) {
        add_header Retry-After $gh_retry_after always;
        return 429 '{"type":"urn:gatehouse:problem:rate-limited","title":"Too Many Requests","status":429}';
      }
      return 500;
    }
  }
}
`
}

/**
 * Caddy in front of the upstream: the recipe of docs/FORWARD_AUTH.md. It is what `forward_auth`
 * expands to, written out, because Caddy 2.6's `copy_headers` sets a header gatehouse did not
 * answer to the unreplaced placeholder text; here each header is copied only when answered.
 * `request_header -X-Gatehouse-*` comes first inside `route`, so that only what gatehouse
 * answered reaches the upstream.
 */
export function caddyfile(dir: string, port: number, ports: Ports): string {
  const copied = [...IDENTITY_SUFFIXES.map((s) => `X-Gatehouse-${s}`), 'X-Request-Id']
  const copies = copied.map((name) => {
    const matcher = `@has_${name.toLowerCase().replaceAll('-', '_')}`
    const value = `{http.reverse_proxy.header.${name}}`
    return `        ${matcher} expression \`${value} != null\`\n        request_header ${matcher} ${name} ${value}`
  })
  return `{
  admin off
  auto_https off
  storage file_system ${join(dir, 'data')}
}

http://127.0.0.1:${port} {
  route {
    request_header -X-Gatehouse-*
    reverse_proxy 127.0.0.1:${ports.gatehouse} {
      method GET
      rewrite /.gatehouse/auth
      header_up X-Forwarded-Method {method}
      header_up X-Forwarded-Uri {uri}
      @allowed status 2xx
      handle_response @allowed {
${copies.join('\n')}
      }
    }
    reverse_proxy 127.0.0.1:${ports.upstream}
  }
}
`
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
