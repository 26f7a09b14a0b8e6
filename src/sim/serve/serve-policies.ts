/**
 * The serving policies `gantry sim serve` compares, each a router policy, a way to size the
 * service and a way to place replicas:
 * - `static-peak`: a fixed number of replicas, the fewest that hold the objective through the
 *   trace's peak (found by search), power-of-two-choices routing; never scales.
 * - `kpa`: Knative's autoscaler on in-flight requests with round-robin routing, replicas on any GPU.
 * - `gantry`: Gantry's objective-driven autoscaler, load-then-prefix routing, replicas placed where
 *   the weights already are.
 */
export const SERVE_POLICIES = ['static-peak', 'kpa', 'gantry'] as const;
export type ServePolicyName = (typeof SERVE_POLICIES)[number];
