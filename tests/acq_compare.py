"""Compares `inception acquire`'s output with the virtual rig's ground truth.
Usage: acq_compare.py ACQUIRE_DIR TRUTH_DIR TRIALS [--faults] [--only-damaged]
The truth's trial column 5: > 0 damaged (must be flagged), 0 clean, < 0 may
be flagged. --only-damaged: no clean trial may be flagged.
Prints TAP lines (numbered from the environment's TAP_START, default 1) and
exits 1 on any failure."""
import os, sys
import numpy as np

out, truth_dir, trials = sys.argv[1], sys.argv[2], int(sys.argv[3])
faults = "--faults" in sys.argv
only_damaged = "--only-damaged" in sys.argv
n = int(os.environ.get("TAP_START", "1"))
failed = 0

def check(ok, what):
    global n, failed
    print(("ok" if ok else "not ok"), n, "-", what)
    n += 1
    failed += not ok

resp = np.load(os.path.join(out, "responses.npy"))
rows = np.load(os.path.join(out, "trials.npy"))
tcounts = np.load(os.path.join(truth_dir, "truth_counts.npy"))
trows = np.load(os.path.join(truth_dir, "truth_trials.npy"))
truth = {int(r[0]): i for i, r in enumerate(trows)}
got = {int(r[0]): i for i, r in enumerate(rows)}
check(len(rows) == trials and sorted(got) == list(range(trials)),
      f"every one of {trials} trials out once ({len(rows)} rows)")
check(all(t in truth for t in got), "the rig saw every trial acquire reports")
affected = [t for t in got if t in truth and trows[truth[t], 5] > 0]
missed = [t for t in affected if rows[got[t], 5] == 0]
check(not missed, f"every trial the rig damaged is flagged ({len(affected)} damaged, unflagged: {missed[:5]})")
clean = [t for t in got if t in truth and rows[got[t], 5] == 0]
wrong = [t for t in clean if not np.array_equal(resp[got[t]], tcounts[truth[t]])]
check(not wrong, f"every unflagged trial equals the rig's counts ({len(clean)} unflagged, wrong: {wrong[:5]})")
undamaged = [t for t in got if t in truth and trows[truth[t], 5] == 0]
check(len(clean) >= 0.5 * len(undamaged) and len(clean) > 0,
      f"most undamaged trials come through unflagged ({len(clean)} of {len(undamaged)})")
if only_damaged:
    extra = [t for t in got if t in truth and trows[truth[t], 5] == 0 and rows[got[t], 5] != 0]
    check(not extra, f"only damaged trials are flagged (also flagged: {extra[:5]})")
if not faults:
    check(len(clean) == trials, "no faults injected: no trial flagged")
    err = [abs(rows[got[t], 3] - trows[truth[t], 3]) for t in clean]
    check(max(err) < 1_000_000, f"onsets placed within 1 ms of the rig's true onset (max {max(err)/1e3:.0f} us)")
print(f"# {len(rows)} trials, {len(affected)} damaged by the rig, {sum(rows[:, 5] != 0)} flagged")
sys.exit(1 if failed else 0)
