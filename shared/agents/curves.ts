// What an agent's training records about itself, sampled over its run: the TD
// loss and ε per update, and greedy returns per goal at evaluation points.

export interface TrainingCurves {
  /** Environment steps done at the end of each update. */
  readonly updateSteps: Float64Array;
  /** Mean TD loss (½ squared error) over each update's minibatches. */
  readonly loss: Float64Array;
  /** ε used by each update's rollout. */
  readonly epsilon: Float64Array;
  /** Environment steps at each greedy evaluation. */
  readonly evalSteps: Float64Array;
  /** Per training goal: mean discounted greedy return at each evaluation point. */
  readonly evalReturn: readonly Float64Array[];
  /** Labels of the training goals, in evalReturn's order. */
  readonly goalLabels: readonly string[];
}
