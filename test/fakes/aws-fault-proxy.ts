// A small HTTP proxy in front of moto that records every AWS action and, on request, answers chosen
// actions with throttling or a 5xx instead of forwarding them - in the wire format AWS uses for each
// protocol (awsQuery for both ELB APIs, ec2Query for EC2), so that the SDK parses them as it would real
// errors - or holds them unanswered (a timeout). Faults come from targeted rules or at a seeded random rate.

import { shareGate } from './fault-share.ts';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** 'timeout': the request is never forwarded; the connection is held for `holdMs`, then reset. */
export type FaultKind = 'throttle' | 'server-error' | 'timeout';

export interface RandomFaults {
  /** Share in [0, 1] of calls that fail (see shareGate). */
  rate: number;
  kinds: readonly FaultKind[];
  /** Numbers in [0, 1), e.g. a seeded generator, so that a run can be replayed. */
  random: () => number;
  /** How long a 'timeout' holds the request before resetting it; longer than the client's timeout. */
  holdMs?: number;
}

export interface RecordedCall {
  /** elb: the Classic ELB API, whose action names (DescribeLoadBalancers, DescribeTags) ELBv2 shares. */
  service: AwsTestService;
  action: string;
  /** The request's form parameters (Action, Version, Targets.member.1.Id, ...). */
  params: Record<string, string>;
  /** What the proxy answered: injected faults are marked. */
  injected?: FaultKind;
  /** 0 when no answer was sent (a 'timeout'). */
  status: number;
}

interface Rule {
  kind: FaultKind;
  remaining: number;
}

type AwsTestService = 'elbv2' | 'elb' | 'ec2';

const ELB_VERSIONS: Record<string, AwsTestService> = { '2015-12-01': 'elbv2', '2012-06-01': 'elb' };

function faultBody(service: AwsTestService, kind: FaultKind, version: string): { status: number; body: string } {
  const requestId = `fault-${Math.random().toString(16).slice(2)}`;
  if (service === 'ec2') {
    const [status, code, message] =
      kind === 'throttle'
        ? [503, 'RequestLimitExceeded', 'Request limit exceeded.']
        : [500, 'InternalError', 'An internal error has occurred'];
    return {
      status,
      body: `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`,
    };
  }
  const [status, type, code, message] =
    kind === 'throttle'
      ? [400, 'Sender', 'Throttling', 'Rate exceeded']
      : [503, 'Receiver', 'ServiceUnavailable', 'Service is unavailable'];
  return {
    status,
    body: `<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/${version}/"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  };
}

export class AwsFaultProxy {
  readonly calls: RecordedCall[] = [];
  readonly #rules = new Map<string, Rule[]>();
  #random: (RandomFaults & { fail: () => boolean }) | undefined;
  readonly #held = new Set<ServerResponse>();
  readonly #server: Server;
  readonly #target: URL;
  #url = '';

  private constructor(target: string) {
    this.#target = new URL(target);
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  static async start(target: string): Promise<AwsFaultProxy> {
    const proxy = new AwsFaultProxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    const address = proxy.#server.address();
    proxy.#url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    return proxy;
  }

  get url(): string {
    return this.#url;
  }

  /**
   * The next `times` calls of `action` fail with `kind` (rules for one action queue up in order). `action`
   * may name the API too ("elb:DescribeLoadBalancers") to leave ELBv2's same-named action alone.
   */
  inject(action: string, kind: FaultKind, times: number): void {
    this.#rules.set(action, [...(this.#rules.get(action) ?? []), { kind, remaining: times }]);
  }

  /** A share `rate` of calls fails (targeted rules first); undefined turns it off. */
  randomFaults(options: RandomFaults | undefined): void {
    this.#random = options && { ...options, fail: shareGate(options.rate, options.random) };
  }

  clearFaults(): void {
    this.#rules.clear();
    this.#random = undefined;
  }

  /** Forgets the recorded calls and returns them. */
  takeCalls(): RecordedCall[] {
    return this.calls.splice(0);
  }

  async stop(): Promise<void> {
    for (const res of this.#held) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #nextFault(service: AwsTestService, action: string): FaultKind | undefined {
    const scoped = this.#rules.get(`${service}:${action}`);
    const rules = scoped?.length ? scoped : this.#rules.get(action);
    const rule = rules?.[0];
    if (rules && rule) {
      rule.remaining -= 1;
      if (rule.remaining <= 0) rules.shift();
      return rule.kind;
    }
    const random = this.#random;
    if (!random || random.kinds.length === 0 || !random.fail()) return undefined;
    return random.kinds[Math.floor(random.random() * random.kinds.length)];
  }

  #hold(res: ServerResponse): void {
    this.#held.add(res);
    setTimeout(() => {
      this.#held.delete(res);
      res.destroy();
    }, this.#random?.holdMs ?? 5_000).unref();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const params = new URLSearchParams(body.toString('utf8'));
      const action = params.get('Action') ?? '(none)';
      const recorded = Object.fromEntries(params);
      const version = params.get('Version') ?? '';
      const service = ELB_VERSIONS[version] ?? 'ec2';
      const fault = this.#nextFault(service, action);
      if (fault === 'timeout') {
        this.calls.push({ service, action, params: recorded, injected: fault, status: 0 });
        this.#hold(res);
        return;
      }
      if (fault) {
        const { status, body: errorBody } = faultBody(service, fault, version);
        this.calls.push({ service, action, params: recorded, injected: fault, status });
        res.writeHead(status, { 'content-type': 'text/xml' }).end(errorBody);
        return;
      }
      const upstream = request(
        {
          hostname: this.#target.hostname,
          port: this.#target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: this.#target.host },
        },
        (up) => {
          this.calls.push({ service, action, params: recorded, status: up.statusCode ?? 0 });
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', (err) => {
        this.calls.push({ service, action, params: recorded, status: 502 });
        res.writeHead(502, { 'content-type': 'text/plain' }).end(`proxy: ${err.message}`);
      });
      upstream.end(body);
    });
  }
}
