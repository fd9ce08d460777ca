import type { Logger } from 'pino';
import type { KeyRotation } from './key-files.js';
import type { KeyStore } from './keys.js';

/**
 * Re-reads the shared leaf directory every `rescanSeconds` (another replica, or `wharf keys
 * rotate` on the CA's machine, may have published a leaf) and rotates when due and the CA key is
 * here. A failed re-read keeps the current keys. Returns the stop function.
 */
export function startKeyRescan(rotation: KeyRotation, keys: KeyStore, logger: Logger): () => void {
  const rescan = async () => {
    try {
      const before = keys.current().kid;
      await rotation.store.refresh();
      const made = rotation.automatic && rotation.rotator ? await rotation.rotator.rotateIfDue() : undefined;
      if (made) logger.info({ event: 'key_rotated', leaf: made }, 'new signing leaf published; it signs once its lead time has passed');
      const after = keys.current().kid;
      if (after !== before) logger.info({ event: 'signing_key_activated', kid: after }, 'signing with a new leaf');
    } catch (err) {
      logger.error({ event: 'key_rescan_failed', err: err instanceof Error ? err.message : String(err) }, 'could not re-read signing keys; keeping the current ones');
    }
  };
  const timer = setInterval(() => void rescan(), rotation.rescanSeconds * 1000).unref();
  return () => clearInterval(timer);
}
