"""Build `.dvc/offline_plots.html`, the page `dvc plots show` and `dvc plots diff` fill (DVC's
`plots.html_template`, set in `.dvc/config`): DVC's own page with vega, vega-lite and vega-embed inlined,
where DVC's default loads them from a CDN and draws nothing offline.

    make plots-template   # npm pack of the pinned versions, then this; the result is committed
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# The versions dvc-render's default page loads from its CDN (dvc_render/vega.py), pinned.
PACKAGES = {"vega": "5.20.2", "vega-lite": "5.2.0", "vega-embed": "6.18.2"}
OUT = Path(".dvc") / "offline_plots.html"

PAGE = """<!DOCTYPE html>
<html>
<head>
    {{refresh_tag}}
    <title>DVC Plot</title>
    <!-- {credits}: BSD-3-Clause, University of Washington Interactive Data Lab; inlined so the page works offline -->
{scripts}
    <style>
        table {{
            border-spacing: 15px;
        }}
    </style>
</head>
<body>
    {{plot_divs}}
</body>
</html>
"""


def build(out: Path = OUT) -> Path:
    """Fetch the pinned packages from the npm registry and write the page to `out`."""
    scripts = []
    with tempfile.TemporaryDirectory() as tmp:
        specs = [f"{name}@{version}" for name, version in PACKAGES.items()]
        subprocess.run(["npm", "pack", "--silent", *specs], cwd=tmp, check=True, capture_output=True)
        for name, version in PACKAGES.items():
            with tarfile.open(Path(tmp) / f"{name}-{version}.tgz") as archive:
                code = archive.extractfile(f"package/build/{name}.min.js").read().decode()
            if "</script" in code or "{plot_divs}" in code:  # would end the tag early, or be filled by DVC
                raise RuntimeError(f"{name}@{version}: its build cannot be inlined as it is")
            scripts.append(f'    <script type="text/javascript">/* {name}@{version} */\n{code}\n    </script>')
    credits = ", ".join(f"{name} {version}" for name, version in PACKAGES.items())
    out.write_text(PAGE.format(credits=credits, scripts="\n".join(scripts)), encoding="utf8")
    return out


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
