// The /metrics registry: prom-client's, plus families a component renders as text itself, for families of
// thousands of series whose prom-client objects would otherwise be built again on every scrape.
import { Registry } from 'prom-client';

export class MetricsRegistry extends Registry {
  private readonly rendered: (() => Promise<string>)[] = [];

  /** Prometheus text format (0.0.4), with HELP and TYPE lines, appended to every scrape. */
  addRendered(render: () => Promise<string>): void {
    this.rendered.push(render);
  }

  override async metrics(): Promise<string> {
    return (await Promise.all([super.metrics(), ...this.rendered.map((render) => render())])).join('\n');
  }
}
