/** Tells the harness the ephemeral port, in the line `parseListening` looks for. */
export function announce(server) {
  const { address, port } = server.address()
  console.log(JSON.stringify({ listening: `${address}:${port}` }))
}
