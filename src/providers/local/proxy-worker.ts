// A proxy worker thread: a FrontendHost of its own, with listening sockets bound with reusePort next to the
// other workers'. The main thread tells it what to serve.
import { parentPort, workerData } from 'node:worker_threads';
import { FrontendHost } from './frontend-host.ts';
import type { FromWorker, ToWorker } from './proxy-spec.ts';
import type { EngineLimits } from './tcp-proxy.ts';

const host = new FrontendHost(workerData as EngineLimits);
const port = parentPort!;
port.on('message', (message: ToWorker) => host.handle(message, (answer: FromWorker) => port.postMessage(answer)));
