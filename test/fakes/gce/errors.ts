// Compute Engine error answers of the GCE fake: HTTP errors in Google's JSON shape and failed-operation errors.

/** Status names Google's front end puts beside `code`; gax maps them to gRPC codes. */
const STATUS_NAMES: Readonly<Record<number, string>> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

/** Thrown anywhere in the fake; the server answers `{"error":{code,message,errors:[{message,domain,reason}]}}`. */
export class GceError extends Error {
  readonly status: number;
  readonly reason: string;
  /** Extra members of the errors[] entry, e.g. location/locationType on a 412. */
  readonly extra: Readonly<Record<string, string>>;
  /** When set, the body carries `error.status` (Compute's classic errors do not; 429s from the front end do). */
  readonly statusName: string | undefined;

  constructor(status: number, reason: string, message: string, extra: Record<string, string> = {}, withStatusName = false) {
    super(message);
    this.name = 'GceError';
    this.status = status;
    this.reason = reason;
    this.extra = extra;
    this.statusName = withStatusName ? STATUS_NAMES[status] : undefined;
  }

  body(): { error: Record<string, unknown> } {
    const error: Record<string, unknown> = {
      code: this.status,
      message: this.message,
      errors: [{ message: this.message, domain: 'global', reason: this.reason, ...this.extra }],
    };
    if (this.statusName !== undefined) error['status'] = this.statusName;
    return { error };
  }
}

/**
 * Thrown by validation that Compute reports through the operation rather than the HTTP answer: the request is
 * accepted, and its operation ends DONE with `error.errors[{code, message}]`.
 */
export class OperationFailure extends Error {
  readonly code: string;
  readonly httpStatus: number;

  constructor(code: string, message: string, httpStatus: number) {
    super(message);
    this.name = 'OperationFailure';
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

/** Compute's `httpErrorMessage` on a failed operation is the upper-case reason phrase. */
export const HTTP_ERROR_MESSAGES: Readonly<Record<number, string>> = {
  400: 'BAD REQUEST',
  403: 'FORBIDDEN',
  404: 'NOT FOUND',
  409: 'CONFLICT',
  412: 'PRECONDITION FAILED',
  500: 'INTERNAL SERVER ERROR',
  503: 'SERVICE UNAVAILABLE',
};

export function notFound(path: string): GceError {
  return new GceError(404, 'notFound', `The resource '${path}' was not found`);
}

export function alreadyExists(path: string): GceError {
  return new GceError(409, 'alreadyExists', `The resource '${path}' already exists`);
}

export function inUse(type: string, path: string, user: string): GceError {
  return new GceError(400, 'resourceInUseByAnotherResource', `The ${type} resource '${path}' is already being used by '${user}'`);
}

export function invalidField(field: string, value: unknown, why: string): GceError {
  const shown = typeof value === 'string' ? value : JSON.stringify(value ?? '');
  return new GceError(400, 'invalid', `Invalid value for field '${field}': '${shown}'. ${why}`);
}

export function notReady(path: string): GceError {
  return new GceError(400, 'resourceNotReady', `The resource '${path}' is not ready`);
}

export function labelFingerprintMismatch(): GceError {
  return new GceError(412, 'conditionNotMet', 'Labels fingerprint either invalid or resource labels have changed', {
    location: 'If-Match',
    locationType: 'header',
  });
}

export function fingerprintMismatch(): GceError {
  return new GceError(412, 'conditionNotMet', 'Supplied fingerprint does not match current metadata fingerprint.', {
    location: 'If-Match',
    locationType: 'header',
  });
}
