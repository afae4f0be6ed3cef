"""Helpers shared by test modules (no test module imports another)."""

#: Runs every code cell of the notebook argv[1], in order, in one namespace, without Jupyter;
#: names the failing cell, and ends by printing how many cells ran.
RUNNER = """
import json, sys
import matplotlib
matplotlib.use("Agg")  # no screen: plt.show() draws nothing
cells = [c for c in json.load(open(sys.argv[1]))["cells"] if c["cell_type"] == "code"]
namespace = {"__name__": "__main__"}
for number, cell in enumerate(cells, 1):
    try:
        exec(compile("".join(cell["source"]), f"code cell {number}", "exec"), namespace)
    except BaseException:
        print(f"code cell {number} of {len(cells)} failed", file=sys.stderr)
        raise
print(f"{len(cells)} code cells ran")
"""


#: Holds run_lock(argv[1], argv[2]) until killed; prints "ready" once it holds it.
LOCK_HOLDER = """
import sys, time
from dmf_numpy.files import run_lock
with run_lock(sys.argv[1], sys.argv[2]):
    print("ready", flush=True)
    time.sleep(120)
"""


def hold_lock(folder, command="the other run"):
    """Start a process that holds ``folder``'s run lock (a live run); return it once it holds it."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(folder), command],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process
