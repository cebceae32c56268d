// Which calls a fake fails at random: a seeded choice that keeps the share of failed calls at the asked rate.

/**
 * Returns a decision per call. Which calls fail is drawn from `random`, but the share of failed calls
 * never falls below `rate` and stays less than three calls above it, so that a run of a few hundred
 * calls really sees the rate it asked for (a plain coin per call drifts a few points either way).
 */
export function shareGate(rate: number, random: () => number): () => boolean {
  let calls = 0;
  let failed = 0;
  return () => {
    calls += 1;
    const owed = rate * calls - failed;
    const fail = owed > 0 || (owed > -2 && random() < rate);
    if (fail) failed += 1;
    return fail;
  };
}
