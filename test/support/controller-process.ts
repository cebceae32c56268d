// The controller with a recording provider in a child process, so tests can kill it like a crashed pod.
// Options arrive as JSON in argv[2]; it answers over IPC.
import { pino } from 'pino';
import { runController } from '../../src/app.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { RecordingProvider } from '../fakes/recording-provider.ts';

export interface ControllerProcessOptions {
  kubeconfig: string;
  config: ConfigInput;
}

export interface ControllerProcessStats {
  type: 'stats';
  /** UIDs of the load balancers this process's provider holds. */
  lbs: string[];
  byOp: Record<string, number>;
}

const options = JSON.parse(process.argv[2]!) as ControllerProcessOptions;
const provider = new RecordingProvider();
const config = parseConfig({
  ...options.config,
  server: { metricsAddress: '127.0.0.1:0', healthAddress: '127.0.0.1:0' },
});
const running = await runController(config, {
  kubeconfig: options.kubeconfig,
  logger: pino({ level: config.logging.level }),
  provider,
  onLostLeadership: () => process.exit(1),
});

process.on('message', (msg: { type: string }) => {
  if (msg.type === 'stats') {
    const lbs = [...provider.lbs.values()];
    const byOp: Record<string, number> = {};
    for (const call of provider.calls) byOp[call.op] = (byOp[call.op] ?? 0) + 1;
    const stats: ControllerProcessStats = {
      type: 'stats',
      lbs: lbs.map((lb) => lb.identity.uid),
      byOp,
    };
    process.send!(stats);
  } else if (msg.type === 'stop') {
    void running.stop().then(() => process.exit(0));
  }
});
process.send!({ type: 'ready' });
