// Pure answers to health probes, in the kube-apiserver style.
/** An HTTP answer to a health probe, in the kube-apiserver style ("[-]reason" lines, "check failed"). */
export interface ProbeResponse {
  status: 200 | 503;
  body: string;
}

/** `failures` empty means healthy. Failures are always listed, so a probe log shows why. */
export function probeResponse(name: string, failures: readonly string[], verbose: boolean): ProbeResponse {
  if (failures.length === 0) {
    return { status: 200, body: verbose ? `${name} check passed\n` : 'ok' };
  }
  const lines = failures.map((reason) => `[-]${reason.replace(/\s*\n\s*/g, ' ')}`);
  return { status: 503, body: `${lines.join('\n')}\n${name} check failed\n` };
}
