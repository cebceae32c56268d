// ARM error responses of the Azure fake: the status, code and message a real Microsoft.Network call returns.

/** Thrown anywhere in the fake; the server turns it into `{"error":{"code","message"}}` with `status`. */
export class ArmError extends Error {
  readonly status: number;
  readonly code: string;
  /** Extra response headers, e.g. Retry-After on a 429. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ArmError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }

  body(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export function invalidReference(referenced: string, by: string): ArmError {
  return new ArmError(
    400,
    'InvalidResourceReference',
    `Resource ${referenced} referenced by resource ${by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
  );
}

export function resourceNotFound(type: string, name: string, group: string): ArmError {
  return new ArmError(
    404,
    'ResourceNotFound',
    `The Resource 'Microsoft.Network/${type}/${name}' under resource group '${group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
  );
}

export function resourceGroupNotFound(group: string): ArmError {
  return new ArmError(404, 'ResourceGroupNotFound', `Resource group '${group}' could not be found.`);
}
