"""The exact definitions the report prints beside its numbers (see reports/stats.py and reports/paired.py)."""

from __future__ import annotations

from reports.stats import MIN_SPAN

DEFINITIONS = {
    "Episode outcome": "judged: not env_error/policy_error and success known; unjudged (success unknown, e.g. "
                       "status unjudged) and errored episodes are counted, never scored. An episode stored by "
                       "several merged runs (same checkpoint sha256, task, target, seed and index; else same "
                       "episode id) counts once.",
    "Cell": "one policy (checkpoint) on one task = adapter × domain × interaction × difficulty × split.",
    "Success with Wilson interval": "k/n of judged episodes, 95% Wilson score interval.",
    "Normalized score": "(rate − random) / (oracle − random), both baselines measured on the same task in these "
                        f"runs (GenRL's min-max normalization); left out where oracle − random < {MIN_SPAN:.0%}. "
                        "Its interval redraws the baselines too, so their uncertainty is included.",
    "Mean": "mean over tasks of per-task rates (rliable's aggregate_mean with one run per task).",
    "IQM": "25%-trimmed mean over tasks of per-task rates (scipy trim_mean, the function rliable's aggregate_iqm "
           "calls; rliable trims runs × tasks scores, here each task gives one rate).",
    "Interval of the mean": "Wilson interval at the mean with Kish's effective size T² / Σ 1/n_t (the pooled "
                            "Wilson interval when tasks have equal n).",
    "Intervals of IQM and normalized scores": "posterior-predictive stratified bootstrap (2,000 replicates): per "
                                              "task p* ~ Beta(k + ½, n − k + ½), k* ~ Binomial(n, p*); 2.5–97.5 "
                                              "percentiles, widened to contain the estimate. It does not collapse "
                                              "at 0/n or n/n.",
    "Coverage": "simulated coverage of these 95% intervals is at least 93% at n = 8 episodes per task "
                "(tests/reports/test_coverage.py).",
    "Gap": "mean over source tasks − mean over zero-shot tasks, Newcombe's hybrid score interval (MOVER) on the "
           "two intervals above.",
    "Paired difference": "on episodes both policies met and both were judged: (only A − only B) / pairs, "
                         "Newcombe's interval for paired proportions (1998, method 10).",
    "McNemar p": "exact two-sided test on the discordant pairs; Holm's step-down adjustment across a table.",
    "P(A > B)": "per task P(A succeeds where B fails) + ½ P(tie), averaged over tasks (rliable's probability of "
                "improvement; for 0/1 outcomes identical to its Mann-Whitney form); Dirichlet(counts + ½) interval.",
    "Rank agreement": "Kendall τ-b, and SimplerEnv's mean maximum rank violation, between checkpoints' success in "
                      "the source world and in a zero-shot world.",
    "Detectable difference": "(z 0.975 + z 0.8) · sqrt(2 p (1 − p) / n) with p the world's mean rate clipped to "
                             "[5%, 95%] and n judged episodes per policy.",
    "Performance profile": "fraction of zero-shot tasks whose rate exceeds τ (rliable's average score "
                           "distribution with one run per task), 95% bands from the same bootstrap.",
}
