/** The config file's listen addresses; durations and rates are src/units, trusted networks src/http. */
export type ListenAddress = { host: string; port: number }

/** `0.0.0.0:8080`, `[::1]:8081`, `:8080` (all interfaces) → host and port. */
export function parseListen(text: string): ListenAddress | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text.trim())
  if (!m) return undefined
  const port = Number(m[3])
  if (port > 65535) return undefined
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port }
}
