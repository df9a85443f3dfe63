/** What changed; every replica evicts the cached entries it names. */
export type InvalidationEvent = {
  kind: string
  userId?: string
  orgId?: string
  apiKeyId?: string
}

export interface InvalidationBus {
  /** Tells the other replicas; the publishing replica is not told (it evicts locally). */
  publish(event: InvalidationEvent): Promise<void>
  close(): Promise<void>
}

/** For a single replica (no Redis configured): nothing to tell anyone. */
export function createLocalInvalidationBus(): InvalidationBus {
  return {
    publish: async () => {},
    close: async () => {},
  }
}
