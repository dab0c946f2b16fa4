"""The paper's group heatmap cells computed as the study's `plot_grouped_summary_heatmap` does
(pandas: per configuration and paradigm the mean and the std over seeds, ddof=1; a group's cell the
mean of its paradigms' means ± the mean of their stds), checked against the cells lmeff drew.

    python paper_figures_check.py TASKS_CSV PER_PARADIGM_CSV MILESTONE GROUP_HEATMAP_SVG
"""

import re
import sys

import pandas as pd

tasks_csv, per_paradigm_csv, milestone, svg_path = sys.argv[1:5]
tasks = pd.read_csv(tasks_csv)
tasks = tasks[tasks["milestone"].astype(str) == milestone]
groups = (
    pd.read_csv(per_paradigm_csv)[["paradigm", "group"]]
    .drop_duplicates()
    .assign(task=lambda d: d["paradigm"].str.lower())
    .set_index("task")["group"]
)
tasks = tasks.assign(group=tasks["task"].str.lower().map(groups))
assert tasks["group"].notna().all(), tasks[tasks["group"].isna()]["task"].unique()
per_task = tasks.groupby(["dataset", "model_size", "vocab_size", "group", "task"])["acc"].agg(["mean", "std"])
cells = per_task.groupby(["dataset", "model_size", "vocab_size", "group"]).mean()
# The data must tell the study's ± from lmeff's (the std over seeds of each run's group mean).
run_means = tasks.groupby(["dataset", "model_size", "vocab_size", "group", "seed"])["acc"].mean()
lmeff_std = run_means.groupby(["dataset", "model_size", "vocab_size", "group"]).std()
assert (cells["std"] - lmeff_std).abs().max() > 0.002, "the data cannot tell the two ± apart"
drawn = []
for t in re.findall(r"<text[^>]*>([^<]*)</text>", open(svg_path, encoding="utf-8").read()):
    m = re.fullmatch(r"\s*(\d+\.\d{3}) ± (\d+\.\d{3})\s*", t)
    if m:
        drawn.append((float(m.group(1)), float(m.group(2))))
# Both sides round to 3 decimals: a cell is drawn when a drawn pair is within that rounding.
missing = [
    (m, s)
    for m, s in zip(cells["mean"], cells["std"])
    if not any(abs(m - a) <= 6e-4 and abs(s - b) <= 6e-4 for a, b in drawn)
]
assert not missing, f"{len(missing)} of {len(cells)} study cells not drawn, e.g. {missing[:5]}"
print(f"{len(cells)} group cells equal the study's computation")
