// The one upper bound on a desired pool size, in its own module so the CLI can name it without
// loading the planner's schedule libraries.

/**
 * Upper bound on any desired count. A pool beyond this is almost certainly bad data (a typo, an
 * overflow), and creating it would flood the provisioner queue; we cap and warn instead.
 * Migration 0044 repeats it in prebuild_desired_overrides' CHECK.
 */
export const MAX_DESIRED_INSTANCES = 1000;
