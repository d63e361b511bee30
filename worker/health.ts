// The services' HTTP port: liveness and readiness for Kubernetes probes (/healthz
// answers 200 while the process's loop is alive, /readyz 200 only while it should
// receive work) and, where the service has them, Prometheus metrics (/metrics).

/** What /metrics serves: the text exposition format and its content type. */
export interface MetricsSource { readonly contentType: string; metrics(): Promise<string> }

import { createServer } from 'node:http';
import type { Server } from 'node:http';

export interface HealthChecks {
  live(): boolean;
  ready(): boolean;
  /** Extra JSON for humans reading the probe (state, current tasks). */
  detail?(): unknown;
  metrics?: MetricsSource;
}

export async function startHealthServer(port: number, checks: HealthChecks, host = '0.0.0.0'): Promise<Server & { boundPort: number }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics' && checks.metrics) {
      const source = checks.metrics;
      source.metrics().then(
        (body) => { res.writeHead(200, { 'content-type': source.contentType }).end(body); },
        (e: unknown) => { res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`); },
      );
      return;
    }
    const ok = path === '/healthz' ? checks.live() : path === '/readyz' ? checks.ready() : null;
    if (ok === null) {
      res.writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: `use /healthz or /readyz${checks.metrics ? ' or /metrics' : ''}` }));
      return;
    }
    res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
      .end(JSON.stringify({ ok, ...(checks.detail ? { detail: checks.detail() } : {}) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address();
  return Object.assign(server, { boundPort: typeof addr === 'object' && addr ? addr.port : port });
}
