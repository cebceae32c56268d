// node:test glue: one control plane per suite.
import { after, before } from 'node:test';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './control-plane.ts';

/**
 * One control plane for the enclosing suite (or file): started in `before`, stopped in `after`.
 * Returns an accessor, since the plane exists only once `before` has run.
 */
export function useControlPlane(options: ControlPlaneOptions = {}): () => ControlPlane {
  let plane: ControlPlane | undefined;
  before(async () => {
    plane = await startControlPlane(options);
  });
  after(async () => {
    await plane?.stop();
  });
  return () => {
    if (!plane) throw new Error('the control plane is not running: use the accessor inside tests or hooks, not at load time');
    return plane;
  };
}
