"""Stage `prepare`: the chosen dataset -> the prepared store, and what was kept and dropped."""

from __future__ import annotations

import numpy as np

from ..data import affectnet, ferplus, folder, rafdb, synthetic
from ..data.noise import inject_label_noise
from ..data.store import SplitData, write_store
from ..data.subsets import read_lists, subset_flags
from ..errors import UserError
from ..io import write_json
from ..params import Params
from .paths import METRICS, PREPARED


def _synthetic(p: Params) -> tuple[list[str], dict[str, SplitData], dict]:
    s = p.prepare.synthetic
    splits, report = {}, {}
    for name, n in {"train": s.n_train, "val": s.n_val, "test": s.n_test}.items():
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
        report[name] = {"kept": n, "dropped": {}}
    return list(synthetic.CLASSES), splits, report


def _ferplus(p: Params) -> tuple[list[str], dict[str, SplitData], dict]:
    splits, report = ferplus.read_ferplus(p.prepare.root, p.prepare.image_size, p.prepare.ferplus.valid_as, _skip(p))
    return list(ferplus.CLASSES), splits, report


def _rafdb(p: Params) -> tuple[list[str], dict[str, SplitData], dict]:
    splits, report = rafdb.read_rafdb(p.prepare.root, p.prepare.image_size, p.prepare.rafdb.images, _skip(p))
    return list(rafdb.CLASSES), splits, report


def _affectnet(num_classes: int):
    def read(p: Params) -> tuple[list[str], dict[str, SplitData], dict]:
        splits, report = affectnet.read_affectnet(p.prepare.root, p.prepare.image_size, num_classes, _skip(p))
        return list(affectnet.CLASSES[:num_classes]), splits, report

    return read


def _folder(p: Params) -> tuple[list[str], dict[str, SplitData], dict]:
    return folder.read_folder(p.prepare.root, p.prepare.image_size, _skip(p))


def _skip(p: Params) -> bool:
    return p.prepare.bad_rows == "skip"


ADAPTERS = {
    "synthetic": _synthetic,
    "ferplus": _ferplus,
    "rafdb": _rafdb,
    "affectnet7": _affectnet(7),
    "affectnet8": _affectnet(8),
    "folder": _folder,
}
SUBSET_LISTS = {"ferplus": "ferplus", "rafdb": "rafdb", "affectnet7": "affectnet", "affectnet8": "affectnet"}


def prepare(p: Params) -> None:
    """Build the prepared store of `p.dataset`, injecting `prepare.noise_rate` label noise on train."""
    if p.prepare.subset_lists is not None:  # checked before a dataset that may take hours to read
        if p.dataset not in SUBSET_LISTS:
            raise UserError(f"prepare.subset_lists: there are no RAN lists for dataset {p.dataset}; set it to null")
        read_lists(SUBSET_LISTS[p.dataset], p.prepare.subset_lists)
    classes, splits, report = ADAPTERS[p.dataset](p)
    for name, r in report.items():
        dropped = ", ".join(f"{k} {v}" for k, v in r["dropped"].items()) or "none"
        print(f"prepare: {p.dataset} {name}: kept {r['kept']}, dropped {dropped}", flush=True)
    subsets = {}
    if p.prepare.subset_lists is not None:
        test = splits["test"]
        test.flags, subsets = subset_flags(
            SUBSET_LISTS[p.dataset], p.prepare.subset_lists, test.sources, test.labels, len(classes)
        )
        for name, r in subsets.items():
            print(
                f"prepare: subset {name}: {r['matched']} of {r['listed']} listed images in test "
                f"(not in test {r['not_in_test']}, duplicates {r['duplicates']}, "
                f"label disagrees {r['label_disagrees']})",
                flush=True,
            )
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
            "dropped": {name: r["dropped"] for name, r in report.items() if r["dropped"]},
            "label_noise": {"rate": p.prepare.noise_rate, "flipped": flipped},
            **({"subsets": subsets} if subsets else {}),
        },
    )
