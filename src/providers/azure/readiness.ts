// The Azure provider's readiness: the credentials work and the subscription, resource group, VNet and subnet can be read, in one GET.
import type { AzureApi } from './api.ts';
import type { AzureProviderConfig } from './config.ts';
import { isNotFound, toProviderError } from './errors.ts';

type Where = Pick<AzureProviderConfig, 'subscriptionId' | 'resourceGroup' | 'vnetName' | 'vnetResourceGroup' | 'subnetName'>;

/** Empty when the configured subnet can be read; else why not, naming what was looked for. */
export async function subnetProblems(api: AzureApi, config: Where): Promise<string[]> {
  const rg = config.vnetResourceGroup ?? config.resourceGroup;
  const where = `subnet ${config.subnetName} of VNet ${config.vnetName} in resource group ${rg} (subscription ${config.subscriptionId})`;
  try {
    await api.getSubnet(rg, config.vnetName, config.subnetName);
    return [];
  } catch (err) {
    // ARM's own message says which level is missing (the group, the VNet or the subnet).
    if (isNotFound(err)) return [`${where} not found: ${toProviderError(err, 'GET').message}`];
    return [toProviderError(err, `reading ${where}`).message];
  }
}
