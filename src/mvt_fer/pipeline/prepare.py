"""Stage `prepare`: the chosen dataset (now the built-in synthetic one) -> the prepared store."""

from __future__ import annotations

import numpy as np

from ..data import synthetic
from ..data.noise import inject_label_noise
from ..data.store import SplitData, write_store
from ..io import write_json
from ..params import Params
from .paths import METRICS, PREPARED


def prepare(p: Params) -> None:
    """Build the prepared store of `p.dataset`, injecting `prepare.noise_rate` label noise on train."""
    s = p.prepare.synthetic
    sizes = {"train": s.n_train, "val": s.n_val, "test": s.n_test}
    splits = {}
    for name, n in sizes.items():
        if n == 0:
            continue
        g = synthetic.generate_split(p.seed, name, n, p.prepare.image_size, s)
        splits[name] = SplitData(
            images=g.images,
            labels=g.labels,
            clean_labels=g.labels,
            sources=[f"synthetic/{name}/{i:06d}" for i in range(n)],
            flags={"occluded": g.occluded, "pose_gt30": np.abs(g.yaw) > 30, "pose_gt45": np.abs(g.yaw) > 45},
            face=g.face,
            extra={"yaw": np.round(g.yaw, 3)},
        )
        print(f"prepare: {name}: {n} synthetic images", flush=True)
    classes = list(synthetic.CLASSES)
    train = splits["train"]
    rng = np.random.default_rng([p.seed, 0xB0B])  # a stream of its own: noise never shifts the images
    train.labels = inject_label_noise(train.clean_labels, p.prepare.noise_rate, len(classes), rng)
    flipped = int((train.labels != train.clean_labels).sum())
    write_store(PREPARED, p.dataset, classes, splits)
    write_json(
        METRICS / "prepare.json",
        {
            "dataset": p.dataset,
            "classes": classes,
            "kept": {name: int(len(sd.labels)) for name, sd in splits.items()},
            "dropped": {},
            "label_noise": {"rate": p.prepare.noise_rate, "flipped": flipped},
        },
    )

