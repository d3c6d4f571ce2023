"""Stage `prepare`: the chosen dataset -> the prepared store, and what was kept and dropped."""

from __future__ import annotations

import numpy as np

from ..data import affectnet, ferplus, folder, rafdb, synthetic
from ..data.noise import inject_label_noise
from ..data.rows import DecodePool, Plan, default_workers
from ..data.store import write_index, write_split
from ..data.subsets import read_lists, subset_flags
from ..errors import UserError
from ..io import atomic_path, remove_stale_temps, write_json
from ..params import Params
from .paths import METRICS, PREPARED


def _synthetic(p: Params) -> Plan:
    s, size = p.prepare.synthetic, p.prepare.image_size
    counts = {"train": s.n_train, "val": s.n_val, "test": s.n_test}
    splits = {name: [synthetic.plan_split(p.seed, name, n, size, s)] for name, n in counts.items() if n > 0}
    return Plan(list(synthetic.CLASSES), splits)


def _ferplus(p: Params) -> Plan:
    f = p.prepare.ferplus
    return ferplus.read_ferplus(p.prepare.root, p.prepare.image_size, f.valid_as, f.train_rows)


def _rafdb(p: Params) -> Plan:
    return rafdb.read_rafdb(p.prepare.root, p.prepare.image_size, p.prepare.rafdb.images)


def _affectnet(num_classes: int):
    def read(p: Params) -> Plan:
        return affectnet.read_affectnet(p.prepare.root, p.prepare.image_size, num_classes)

    return read


def _folder(p: Params) -> Plan:
    return folder.read_folder(p.prepare.root, p.prepare.image_size)


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
    remove_stale_temps(PREPARED)
    # Images go straight into a temporary store that replaces the old one only when complete: a prepare
    # killed half-way leaves the previous store whole.
    with DecodePool(p.prepare.workers or default_workers()) as pool, atomic_path(PREPARED) as tmp:
        plan = ADAPTERS[p.dataset](p)
        classes = plan.classes
        tmp.mkdir()
        splits, report = {}, {}
        for name, parts in plan.splits.items():
            split, part_report = write_split(tmp, name, parts, pool, p.prepare.bad_rows == "skip")
            report |= part_report
            if split is not None:
                splits[name] = split
        if plan.check is not None:
            plan.check(splits)
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
        write_index(tmp, p.dataset, classes, p.prepare.image_size, splits)
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
