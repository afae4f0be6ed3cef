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
