#!/usr/bin/python3
"""What `inception acquire` wrote from a session record streamed by
`inception replay --stream` equals the record: every recorded trial once,
its image id, its flags the recorded ones (a trial the run flagged, say for a
bin lost on the way, is flagged again: the replay skips the same sequence
numbers), its counts exactly the recorded ones. The display's flag
(RUN_TRIAL_FRAMES, bit 16: shown for the wrong number of frames) is the run's
own and not in the stream, so only the aligner's bits (0-15) are compared.
Arguments: controller/record/record_reader.py, the session folder, acquire's folder,
the number of neurons. Exit 0 when all holds."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(sys.argv[1]))
from record_reader import read_records  # noqa: E402

ALIGNER_FLAGS = 0xFFFF  # ACQ_TRIAL_* (acquisition.h); bit 16 is RUN_TRIAL_FRAMES

session, acquired, neurons = sys.argv[2], sys.argv[3], int(sys.argv[4])
trials = {r["fields"]["trial"]: r["fields"] for r in read_records(session + "/session.rec")
          if r["type"] == "trial"}
resp = np.load(acquired + "/responses.npy")
rows = np.load(acquired + "/trials.npy")
n = len(trials)
ok = resp.shape == (n, neurons) and rows.shape == (n, 6)
ok &= sorted(rows[:, 0].tolist()) == sorted(trials)
differ = []
for r, c in zip(rows, resp):
    t = trials.get(int(r[0]))
    same = (t is not None and int(r[1]) == t["image_id"] and
            int(r[5]) == int(t.get("flags", 0)) & ALIGNER_FLAGS and np.array_equal(c, t["counts"]))
    if not same:
        differ.append(int(r[0]))
ok &= not differ
print("#", n, "recorded trials (%d flagged); acquired" %
      sum(int(t.get("flags", 0)) != 0 for t in trials.values()), resp.shape, rows.shape,
      "flagged", int((rows[:, 5] != 0).sum()), "; differing:", differ[:10])
sys.exit(not ok)
