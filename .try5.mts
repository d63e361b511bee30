import { startNatsServer } from '/work/main/tests/support/nats-server.ts';
import { plearn } from '/work/main/tests/support/run-cli.ts';
import { startService, stopAll } from '/work/main/tests/support/services.ts';
const server = await startNatsServer();
const nats = ['--nats', server.url];
const c = startService('coordinator', ['coordinator', ...nats, '--fits-on', 'workers', '--health-port', '0', '--log-level', 'info']);
const w = startService('w0', ['worker', ...nats, '--threads', '1', '--id', 'w0', '--health-port', '0', '--log-level', 'warn']);
const t0 = Date.now();
const s = await plearn(['sweep', 'submit', 'sweeps/fourrooms-goals.yaml', '--watch', '--json', '--max-active-cells', '2', ...nats], 3_600_000);
console.log('code', s.code, (Date.now() - t0) / 1000, s.stderr.slice(-600));
if (s.code !== 0) { console.log(c.log().slice(-6000)); }
await stopAll([c, w]); await server.stop();
