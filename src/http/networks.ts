import { isIP } from 'node:net'

export type Network = { address: string; prefix: number; family: 'ipv4' | 'ipv6' }

/**
 * `10.0.0.0/8`, `192.168.1.5`, `fd00::/8` → a network; undefined for anything else. The one parser
 * of trust entries: `gatehouse check` and the running gateway must never disagree on one.
 * The prefix must be written in plain decimal digits: Number('') is 0, so a lax reading of
 * `10.0.0.0/` would trust every address.
 */
export function parseCidr(text: string): Network | undefined {
  const [address = '', prefixText, extra] = text.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return undefined
  const max = family === 4 ? 32 : 128
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1
  if (prefix < 0 || prefix > max) return undefined
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' }
}
