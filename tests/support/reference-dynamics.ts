// Independent references for the continuous worlds, written straight from the reference implementation’s environments
// on scalars: the tests compare the library's batched code against these.

/** MountainCar step. */
export function mcRef(x: number, v: number, a: number): [number, number] {
  let vn = v + (a - 1) * 0.001 - Math.cos(3 * x) * 0.0025;
  vn = Math.min(0.07, Math.max(-0.07, vn));
  const xn = Math.min(0.6, Math.max(-1.2, x + vn));
  if (xn === -1.2 && vn < 0) vn = 0;
  return [xn, vn];
}

/** The boundary events of the paper’s evaluation: the velocity clip bites, or the car hits the left wall moving left. */
export function mcBoundaryRef(x: number, v: number, a: number): boolean {
  const raw = v + (a - 1) * 0.001 - Math.cos(3 * x) * 0.0025;
  if (Math.abs(raw) > 0.07) return true;
  return x + raw <= -1.2 && raw < 0;
}

/** Reacher torques of action a: joint 1 varies slowest over {−1, 0, 1}. */
export const torque = (a: number): [number, number] => [[-1, 0, 1][Math.floor(a / 3)], [-1, 0, 1][a % 3]];

/** Reacher step of row o (θ₁, θ₂, ω₁, ω₂) into out at the same offset: semi-implicit Euler, dt 0.05. */
export function reacherRef(s: ArrayLike<number>, o: number, a: number, out: Float64Array): void {
  const [t1, t2] = torque(a);
  const w1 = s[o + 2] + 0.05 * t1;
  const w2 = s[o + 3] + 0.05 * t2;
  out[o] = s[o] + 0.05 * w1;
  out[o + 1] = s[o + 1] + 0.05 * w2;
  out[o + 2] = w1;
  out[o + 3] = w2;
}

/** Batched forms, the shape of ContinuousEnv.step. */
export function mcBatch(s: Float64Array, acts: Int32Array, out: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const [x, v] = mcRef(s[2 * i], s[2 * i + 1], acts[i]);
    out[2 * i] = x;
    out[2 * i + 1] = v;
  }
}

export function reacherBatch(s: Float64Array, acts: Int32Array, out: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) reacherRef(s, 4 * i, acts[i], out);
}
