"""Prints lm-evaluation-harness' own results tables (`lm_eval.utils.make_table`, as `lm_eval`
prints them after a run) of a `blimp_results.json`: the per-task table, then the group table.

usage: lm_eval_table.py BLIMP_RESULTS_JSON
"""
import json
import sys

from lm_eval.utils import make_table

with open(sys.argv[1]) as f:
    results = json.load(f)
print(make_table(results))
print(make_table(results, "groups"))
