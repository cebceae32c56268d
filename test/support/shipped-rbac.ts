// The RBAC in deploy/base (ServiceAccount, ClusterRole, Role and their bindings) applied to a test control
// plane, and a kubeconfig holding that ServiceAccount's token: the controller as deployed, not as admin.
import { readFileSync } from 'node:fs';
import { KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import type { ControlPlane } from '../harness/control-plane.ts';

const RBAC_FILES = ['serviceaccount.yaml', 'clusterrole.yaml', 'clusterrolebinding.yaml', 'role.yaml', 'rolebinding.yaml'];
export const NAMESPACE = 'kube-system';
export const SERVICE_ACCOUNT = 'service-lb-controller';

/** Applies deploy/base's RBAC in kube-system; returns the path of a kubeconfig for its ServiceAccount. */
export async function shippedRbacKubeconfig(plane: ControlPlane): Promise<string> {
  const api = KubernetesObjectApi.makeApiClient(plane.kubeConfig);
  for (const file of RBAC_FILES) {
    for (const doc of parseAllDocuments(readFileSync(new URL(`../../deploy/base/${file}`, import.meta.url), 'utf8'))) {
      const object = doc.toJS() as KubernetesObject;
      if (!object.kind?.startsWith('Cluster')) object.metadata = { ...object.metadata, namespace: NAMESPACE };
      await api.create(object);
    }
  }
  return (await plane.serviceAccountKubeConfig(NAMESPACE, SERVICE_ACCOUNT)).kubeconfigPath;
}
