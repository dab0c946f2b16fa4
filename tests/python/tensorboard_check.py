"""Reads a run's TensorBoard folder with TensorBoard's own reader (EventAccumulator, which also
drops what an interrupted process logged past the step a resumed one restarts from) and prints
every scalar tag with its (step, value) points as JSON.

usage: tensorboard_check.py RUN_DIR
"""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

acc = EventAccumulator(sys.argv[1] + "/tb", size_guidance={"scalars": 0})
acc.Reload()
out = {
    tag: [[e.step, e.value] for e in acc.Scalars(tag)]
    for tag in acc.Tags()["scalars"]
}
print(json.dumps(out))
