// Containers for the tests, through testcontainers (https://node.testcontainers.org).
//
// The engine is whatever testcontainers finds by itself: DOCKER_HOST, a
// ~/.testcontainers.properties, /var/run/docker.sock, a rootless Docker socket.
// Here that is podman's Docker-compatible API, which deploy/ci-steps.sh starts
// (`podman system service`) and points DOCKER_HOST at. The reaper container
// (ryuk) comes from Docker Hub, which CI cannot reach, so ci-steps.sh turns it
// off (TESTCONTAINERS_RYUK_DISABLED=true) and the tests clean up themselves:
// every container and network started here carries this process's id, and
// removeOwned() removes them — in `after`, so also when a test failed — along
// with whatever an earlier, killed test process left behind.
//
// Import this module dynamically (`await import('./support/containers.ts')`)
// from tests that may skip: loading testcontainers costs about a second.

import { spawn } from 'node:child_process';
import {
  GenericContainer, ImageName, Network, getContainerRuntimeClient,
} from 'testcontainers';
import type { ContainerRuntimeClient, StartedNetwork } from 'testcontainers';

export { GenericContainer, Wait } from 'testcontainers';
export type { StartedNetwork, StartedTestContainer } from 'testcontainers';

/** Label on every container started through this module: the id of the process that owns it. */
export const OWNER_LABEL = 'plearn.test.owner-pid';
const NETWORK_PREFIX = 'plearn-test-';

export interface Engine {
  client: ContainerRuntimeClient;
  /** For messages: "podman 4.3.1" or "Docker 27.1.1". */
  name: string;
  isPodman: boolean;
}

/**
 * The container engine testcontainers finds, or why there is none (one line).
 * Gives up after timeoutMs: a socket that exists but never answers must skip
 * the test, not hang it.
 */
export async function findEngine(timeoutMs = 20_000): Promise<Engine | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer from a container engine within ${timeoutMs / 1000} s`), timeoutMs);
  });
  const found = (async (): Promise<Engine | string> => {
    try {
      const client = await getContainerRuntimeClient();
      const version = await client.container.dockerode.version() as { Version?: string; Components?: { Name?: string }[] };
      const isPodman = (version.Components ?? []).some((c) => /podman/i.test(c.Name ?? ''));
      return { client, isPodman, name: `${isPodman ? 'podman' : 'Docker'} ${version.Version ?? client.info.containerRuntime.serverVersion}` };
    } catch (e) {
      return `no container engine reachable (testcontainers: ${(e as Error).message}; DOCKER_HOST=${process.env.DOCKER_HOST ?? 'unset'})`;
    }
  })();
  try {
    return await Promise.race([found, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A GenericContainer owned by this process, with the hardening the Helm chart
 * asks of Kubernetes available as one call.
 */
export class TestContainer extends GenericContainer {
  constructor(image: string) {
    super(image);
    this.withLabels({ [OWNER_LABEL]: String(process.pid) });
  }

  /** securityContext.readOnlyRootFilesystem (testcontainers has no builder for it). */
  withReadOnlyRootFilesystem(): this {
    this.hostConfig.ReadonlyRootfs = true;
    return this;
  }

  /**
   * The chart's pod and container securityContext: the image's uid 10001,
   * read-only root, every capability dropped, no privilege escalation, and
   * /tmp an emptyDir (here a tmpfs of the chart's 1 GiB; tsx caches there).
   */
  withChartSecurityContext(): this {
    return this.withUser('10001:10001')
      .withReadOnlyRootFilesystem()
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges')
      .withTmpFs({ '/tmp': 'rw,nosuid,nodev,size=1g' });
  }

}

/**
 * The last lines a container (by id or name) wrote to stdout and stderr, for
 * failure messages. Read once, not followed: podman's API answers a followed
 * log of a container that exits at once with nothing.
 */
export async function containerLogs(engine: Engine, idOrName: string, lines = 30): Promise<string> {
  try {
    const raw = await engine.client.container.dockerode.getContainer(idOrName).logs({ stdout: true, stderr: true, follow: false, tail: lines });
    return demux(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw)));
  } catch (e) {
    return `(no log: ${(e as Error).message})`;
  }
}

/** The Docker log stream format without a TTY: frames of [stream, 0, 0, 0, size (u32 BE)] + payload. */
function demux(buf: Buffer): string {
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length && buf[i] <= 2 && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  if (i < buf.length) parts.push(buf.subarray(i)); // not framed (a TTY), or a torn tail
  return Buffer.concat(parts).toString('utf8');
}

/** A bridge network named after this process, so removeOwned() finds it. */
export function ownedNetwork(): Promise<StartedNetwork> {
  let n = 0;
  return new Network({ nextUuid: () => `${NETWORK_PREFIX}${process.pid}-${Date.now().toString(36)}-${n++}` }).start();
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove (forcibly) the containers and networks of this process — or, with
 * `orphans`, of test processes that no longer run. Returns what it removed.
 */
export async function removeOwned(engine: Engine, which: 'mine' | 'orphans'): Promise<string[]> {
  const docker = engine.client.container.dockerode;
  const owned = (pid: number) => (which === 'mine' ? pid === process.pid : !alive(pid));
  const removed: string[] = [];
  const containers = await docker.listContainers({ all: true, filters: { label: [OWNER_LABEL] } });
  for (const c of containers) {
    if (!owned(Number(c.Labels[OWNER_LABEL]))) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      removed.push(`container ${c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12)}`);
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    }
  }
  const networks = await docker.listNetworks();
  for (const n of networks) {
    const m = new RegExp(`^${NETWORK_PREFIX}(\\d+)-`).exec(n.Name);
    if (!m || !owned(Number(m[1]))) continue;
    try {
      await docker.getNetwork(n.Id).remove();
      removed.push(`network ${n.Name}`);
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 404) throw e;
    }
  }
  return removed;
}

/**
 * Make an image built by podman visible to the engine: a no-op when the engine
 * is podman's own API (same storage); for Docker, `podman save | docker load`.
 */
export async function ensureImage(engine: Engine, image: string, podman: string[]): Promise<void> {
  if (await engine.client.image.exists(ImageName.fromString(image))) return;
  const save = spawn(podman[0], [...podman.slice(1), 'save', '--format', 'docker-archive', image], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  save.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => save.on('close', resolve));
  let loadError: Error | undefined;
  try {
    const loaded = await engine.client.container.dockerode.loadImage(save.stdout);
    // The load's answer is a stream of progress messages; the load is done when it ends.
    await new Promise<void>((resolve, reject) => {
      (loaded as NodeJS.ReadableStream).on('error', reject).on('end', () => resolve()).resume();
    });
  } catch (e) {
    loadError = e as Error;
    save.kill();
  }
  const code = await exited;
  if (code !== 0 && !loadError) throw new Error(`podman save ${image} exited ${code}: ${stderr.trim()}`);
  if (loadError) throw new Error(`loading ${image} into ${engine.name}: ${loadError.message}${stderr ? ` (podman save: ${stderr.trim()})` : ''}`);
  if (!(await engine.client.image.exists(ImageName.fromString(image)))) throw new Error(`${image} not in ${engine.name} after loading it`);
}
