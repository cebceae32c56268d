// The controller under benchmark, in its own process so that its peak RSS is its own.
// argv: kubeconfig workers latencyMs. Talks to the parent over IPC.
import { pino } from 'pino';
import { runController } from '../src/app.ts';
import { parseConfig } from '../src/config/load.ts';
import { RecordingProvider } from '../test/fakes/recording-provider.ts';

const [kubeconfig, workers, latencyMs] = process.argv.slice(2);
const provider = new RecordingProvider({ latencyMs: Number(latencyMs), keepDesired: false });
const config = parseConfig({
  controller: { workers: Number(workers), resyncPeriod: '1h' },
  leaderElection: { enabled: false },
  server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
  logging: { level: 'warn' },
});
const running = await runController(config, {
  kubeconfig: kubeconfig!,
  logger: pino({ level: 'warn' }),
  provider,
  onLostLeadership: () => process.exit(1),
});

process.on('message', (msg: { type: string; node?: string }) => {
  if (msg.type === 'stats') {
    const targeting = msg.node ? [...provider.lbs.values()].filter((lb) => lb.desired.targets.some((t) => t.nodeName === msg.node)).length : 0;
    const byOp: Record<string, number> = {};
    for (const call of provider.calls) byOp[call.op] = (byOp[call.op] ?? 0) + 1;
    process.send!({ type: 'stats', lbs: provider.lbs.size, targeting, byOp, maxRssKb: process.resourceUsage().maxRSS, memory: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, Math.round(v / 1e6)])), metricsUrl: running.metricsUrl });
  } else if (msg.type === 'stop') {
    void running.stop().then(() => process.exit(0));
  }
});
process.send!({ type: 'ready' });
