// The channel between the controller and `service-lb-controller proxy`: newline-delimited JSON over a unix
// socket, described in docs/proxy-channel.md. The specs are proxy-spec.ts's, as the workers get them.
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import type { FrontendGroupSpec, FrontendStats } from './proxy-spec.ts';

/** "major.minor": a peer refuses another major; a minor adds only fields and messages an older peer may ignore. */
export const PROTOCOL_VERSION = '1.0';

export type ToProxy =
  | { type: 'hello'; version: string }
  /**
   * Everything the proxy should serve, sent after every hello: groups neither in it nor kept are removed.
   * keep: groups the controller owns but has no spec for yet (a restarted controller before its first
   * sync of them); they serve on as they are.
   */
  | { type: 'snapshot'; seq: number; groups: FrontendGroupSpec[]; keep: string[] }
  | { type: 'apply'; seq: number; spec: FrontendGroupSpec }
  | { type: 'remove'; seq: number; key: string }
  | { type: 'stats'; seq: number };

export type FromProxy =
  | { type: 'hello'; version: string }
  /** The answer to a snapshot, apply or remove: what could not be done (a listener that failed to bind). */
  | { type: 'ack'; seq: number; errors: string[] }
  | { type: 'stats'; seq: number; stats: FrontendStats[] }
  /** Sent before the proxy closes the connection: an unusable hello or message. */
  | { type: 'error'; message: string };

/** Why a peer of version `theirs` cannot talk to us, or undefined when it can. */
export function incompatible(theirs: unknown): string | undefined {
  if (typeof theirs !== 'string' || !/^\d+\.\d+$/.test(theirs)) return `protocol version ${JSON.stringify(theirs)} is not "major.minor"`;
  const [ours] = PROTOCOL_VERSION.split('.');
  if (theirs.split('.')[0] !== ours)
    return `protocol version ${theirs} is not supported (this side speaks ${PROTOCOL_VERSION}): run the controller and the proxy from the same release`;
  return undefined;
}

export function send(socket: Socket, message: ToProxy | FromProxy): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(message)}\n`);
}

/** Calls onMessage with each line parsed; a line that is not a JSON object ends the connection. */
export function receive(socket: Socket, onMessage: (message: Record<string, unknown>) => void): void {
  const lines = createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY });
  // readline passes on the socket's errors; the socket's own listener handles them.
  lines.on('error', () => {});
  lines.on('line', (line) => {
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      message = undefined;
    }
    if (typeof message !== 'object' || message === null || typeof (message as { type?: unknown }).type !== 'string') {
      socket.destroy(new Error('the peer sent a line that is not a message'));
      return;
    }
    onMessage(message as Record<string, unknown>);
  });
}
