export { createTunnelDoor } from './door.ts'
export type { TunnelDoor, TunnelDoorDeps } from './door.ts'
