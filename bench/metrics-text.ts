// Prometheus /metrics text as benchmarks read it: the values of a metric's series, all or those with given labels.

/**
 * The value of every series of the metric (a histogram's `_sum` or `_count` is a metric of its own here)
 * that has each of the labels given, whatever its other labels.
 */
export function metricValues(text: string, name: string, labels: Record<string, string> = {}): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .filter((l) => {
      const has = labelsOf(l);
      return Object.entries(labels).every(([label, value]) => has.get(label) === value);
    })
    .map((l) => Number(l.split(' ').at(-1)));
}

/** The labels of one series line, `name{a="1",b="x"} 3`, unescaped. */
function labelsOf(line: string): Map<string, string> {
  const open = line.indexOf('{');
  const labels = new Map<string, string>();
  if (open < 0) return labels;
  for (const [, label, value] of line.slice(open, line.lastIndexOf('}')).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
    labels.set(label!, JSON.parse(`"${value}"`) as string);
  return labels;
}

/** The metric summed over its series (those with the labels given). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  return metricValues(text, name, labels).reduce((a, b) => a + b, 0);
}
