import json, sys
from pathlib import Path
import statistics as st
out = Path(sys.argv[1])
rows = []
for seed in (0, 1, 2):
    r = {}
    for rel in ("true", "false"):
        d = out / f"s{seed}-{rel}"
        if not d.exists():
            continue
        tr = json.loads((d / "train.json").read_text()); ev = json.loads((d / "eval.json").read_text())
        r[rel] = (ev["accuracy"], tr["val_acc"], tr.get("relabel"))
    print(seed, r)
    rows.append(r)
def ms(v): return f"{st.mean(v):.3f} ± {st.stdev(v):.3f}" if len(v) > 1 else str(v)
full = [r for r in rows if "true" in r and "false" in r]
print("relabel test", ms([r["true"][0] for r in full]), "none test", ms([r["false"][0] for r in full]))
print("relabel val", ms([r["true"][1] for r in full]), "none val", ms([r["false"][1] for r in full]))
print("precision", ms([r["true"][2]["precision"] for r in full]), [r["true"][2]["precision"] for r in full])
print("recall", ms([r["true"][2]["recall"] for r in full]), "count", [r["true"][2]["count"] for r in full], "started", [r["true"][2]["started_epoch"] for r in full])
