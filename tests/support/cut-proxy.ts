// A TCP proxy in front of nats-server that cuts one client's connection in the
// middle of a message: once it sees the client publish to a subject starting with
// `marker` (an Object Store chunk, say), it forwards the header and half the
// payload, then drops both sides. Later connections pass untouched. A real
// network fault at a chosen point of the protocol, with nothing faked in plearn.

import { createServer, connect } from 'node:net';
import type { Socket } from 'node:net';
import { freePort } from './nats-server.ts';

export interface CutProxy {
  readonly url: string;
  /** Connections cut so far (0 or 1). */
  cuts(): number;
  close(): Promise<void>;
}

export async function startCutProxy(upstreamPort: number, marker: string): Promise<CutProxy> {
  let armed = true;
  let cuts = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const up = connect(upstreamPort, '127.0.0.1');
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => { sockets.delete(s); client.destroy(); up.destroy(); });
    }
    up.on('data', (b: Buffer) => client.write(b));
    // Bytes still to forward before the cut; -1 while the marker has not been seen.
    let allow = -1;
    client.on('data', (buf: Buffer) => {
      if (!armed) { up.write(buf); return; }
      let from = 0;
      if (allow < 0) {
        const text = buf.toString('latin1');
        const at = text.indexOf(` ${marker}`);
        const eol = at < 0 ? -1 : text.indexOf('\r\n', at);
        if (eol < 0) { up.write(buf); return; }
        // "PUB <subject> [reply] <bytes>" or "HPUB <subject> [reply] <header bytes> <total bytes>": the last field is the payload.
        const total = Number(text.slice(at, eol).trim().split(' ').pop());
        allow = eol + 2 + Math.floor(total / 2);
        from = 0;
      }
      const send = Math.min(allow, buf.length - from);
      up.write(buf.subarray(from, from + send));
      allow -= send;
      if (allow === 0) {
        armed = false;
        cuts++;
        // Let the partial bytes reach the server before the connection goes.
        up.end(() => { up.destroy(); client.destroy(); });
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `nats://127.0.0.1:${port}`,
    cuts: () => cuts,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
