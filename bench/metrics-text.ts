// The controller's /metrics text as benchmarks read it: the values of a metric's series, whatever their labels.

/** The value of every series of the metric (a histogram's `_sum` or `_count` is a metric of its own here). */
export function metricValues(text: string, name: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .map((l) => Number(l.split(' ').at(-1)));
}

/** The metric summed over all its series. */
export function metricSum(text: string, name: string): number {
  return metricValues(text, name).reduce((a, b) => a + b, 0);
}
