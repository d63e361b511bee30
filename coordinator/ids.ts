// Job and sweep ids: time-ordered (base-36 milliseconds) with a random tail, so
// ids sort by creation and two coordinators never collide in practice. Each is
// one NATS subject token (ID_PATTERN).

function stamp(): string {
  const rand = Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, '0');
  return `${Date.now().toString(36)}${rand}`;
}

export const newJobId = (): string => `j${stamp()}`;
export const newSweepId = (): string => `s${stamp()}`;
