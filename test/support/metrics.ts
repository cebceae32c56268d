// Reading a controller's /metrics in tests: one number per question, whatever else the series carry.

/** The sum of a metric's series whose labels include every one given, scraped from `url` (a /metrics URL). */
export async function metricTotal(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(url)).text();
  const wanted = Object.entries(labels).map(([key, value]) => `${key}=${JSON.stringify(value)}`);
  let total = 0;
  for (const line of text.split('\n')) {
    const series = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!series || series[1] !== name) continue;
    const present = new Set((series[2] ?? '').match(/\w+="(?:[^"\\]|\\.)*"/g) ?? []);
    if (wanted.every((label) => present.has(label))) total += Number(series[3]);
  }
  return total;
}
