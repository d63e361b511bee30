// The image's HEALTHCHECK. One image runs both services, on different health
// ports (coordinator 8081, worker 8080, either one moved by --health-port), so
// the port is read from PID 1's own command line instead of being baked in.
// Client commands (submit, jobs, …) serve no port: nothing to check, healthy.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

const DEFAULT_PORT = { coordinator: 8081, worker: 8080 };

function targetPort() {
  let argv;
  try {
    argv = readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
  const command = argv.find((a) => a in DEFAULT_PORT);
  if (!command) return null;
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--health-port') return Number(argv[i + 1]);
    if (argv[i].startsWith('--health-port=')) return Number(argv[i].slice('--health-port='.length));
  }
  return DEFAULT_PORT[command];
}

const port = targetPort();
// Port 0 means "any free port": the probe cannot know it, so only liveness of PID 1 counts.
if (port === null || port === 0) process.exit(0);

const req = request({ host: '127.0.0.1', port, path: '/healthz', timeout: 4000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => { req.destroy(); process.exit(1); });
req.on('error', () => process.exit(1));
req.end();
