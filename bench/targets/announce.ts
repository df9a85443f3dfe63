import type { AddressInfo, Server } from 'node:net'

/** Tells the harness the ephemeral port, in the line `parseListening` looks for. */
export function announce(server: Server): void {
  const { address, port } = server.address() as AddressInfo
  console.log(JSON.stringify({ listening: `${address}:${port}` }))
}
