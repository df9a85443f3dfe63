import { writeFileSync } from 'node:fs'

/**
 * A starter config: the few keys a first deployment sets, each explained; everything else keeps
 * its default (config.example.yaml lists every option).
 */
const STARTER = `# gatehouse configuration (written by \`gatehouse init\`). Every option, with its default, is in
# config.example.yaml; \`gatehouse check --config gatehouse.yaml\` names the line of any mistake.
# \${VAR} and \${VAR:-default} are replaced with environment variables.

server:
  listen: "\${GATEHOUSE_LISTEN:-0.0.0.0:8080}"   # the public listener: proxied traffic only
  trust_proxy: []                               # your load balancer's IPs/CIDRs, whose X-Forwarded-* are believed

upstream:
  url: "\${GATEHOUSE_UPSTREAM:-http://127.0.0.1:3000}"   # the service gatehouse protects

admin:
  listen: "\${GATEHOUSE_ADMIN_LISTEN:-127.0.0.1:8081}"   # /healthz, /readyz, JWKS; keep it private
  api_key: "\${GATEHOUSE_ADMIN_KEY:-}"                   # at least 16 characters turns on the admin API (/v1)

# Roles, highest first: a role has its own permissions and those of every role below it.
roles:
  - { name: Owner, permissions: [can_view_billing, can_manage_api_keys] }
  - { name: Admin, permissions: [can_manage_api_keys] }
  - { name: Member, permissions: [] }

tokens:
  # gatehouse's own tokens (\`gatehouse token --user ID\`), so this config works with no outside issuer.
  local_issuer: true
  # Your identity provider; discovery finds its keys from the issuer URL alone:
  # issuers:
  #   - { issuer: "https://auth.example.com", claims: propelauth, algorithms: [RS256] }
  issuers: []

# Users, orgs, memberships and API keys: SQLite next to this file, or postgres://… for several replicas.
store:
  url: "\${GATEHOUSE_STORE_URL:-sqlite:./data/gatehouse.db}"

# First match wins; a request no rule matches gets 404.
# auth: none | optional | user | authenticated | org_member (with role, min_role, permission).
routes:
  - { path: /healthz, auth: none }
  - { path: "/org/:org_id/*", auth: org_member }
  - { path: "/api/*", auth: user }
`

/** `gatehouse init [--config FILE]`: writes the starter config; never overwrites one that exists. */
export function runInit(file: string): number {
  try {
    writeFileSync(file, STARTER, { flag: 'wx' })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    console.error(code === 'EEXIST' ? `${file} exists; gatehouse init never overwrites a config` : `${file}: ${(err as Error).message}`)
    return 1
  }
  console.log(
    `wrote ${file}: edit the upstream and routes, then \`gatehouse check --config ${file}\` and \`gatehouse start --config ${file}\``,
  )
  return 0
}
