// The driver both docs-table scripts share: run the named sections (all by default),
// print each as markdown with its wall time, close the pool whatever happens.

import type { TaskPool } from '../worker/local-pool.ts';

export async function printTables(tables: Record<string, () => Promise<string>>, wanted: readonly string[], pool: TaskPool): Promise<void> {
  try {
    for (const name of wanted.length > 0 ? wanted : Object.keys(tables)) {
      const t0 = performance.now();
      const table = await tables[name]();
      process.stdout.write(`\n### ${name} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n\n${table}\n`);
    }
  } finally {
    await pool.close();
  }
}
