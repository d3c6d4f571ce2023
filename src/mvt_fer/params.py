"""The typed schema of params.yaml: the one place where every key, type and range is checked.

Every stage loads its configuration through `load_params`, so an unknown key, a wrong type or an
out-of-range value stops the pipeline before any work starts, with one line that names the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from ruamel.yaml import YAML, YAMLError

from .errors import UserError

View = Literal["show", "hide"]  # mask semantics: docs/design.md, "Mask semantics"
Estimator = Literal["sampled", "straight_through", "soft"]  # how D reads G's Mp (mgn.estimator)

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
NonNegativeFloat = Annotated[float, Field(ge=0.0)]


class Section(BaseModel):
    # strict: a quoted "3" is not an int, and a typo'd key is an error rather than a silent default.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SyntheticParams(Section):
    """Sizes and nuisance strengths of the built-in synthetic in-the-wild dataset."""

    n_train: PositiveInt = Field(8400, description="training images")
    n_val: NonNegativeInt = Field(700, description="validation images (for tuning; 0 for none)")
    n_test: PositiveInt = Field(1400, description="test images")
    cue_noise: NonNegativeFloat = Field(
        0.8, description="spread of each expression cue around its class prototype; higher = more class overlap"
    )
    distractors: NonNegativeInt = Field(6, description="most face-part-like distractors drawn in the background")
    occlusion_rate: Fraction = Field(0.3, description="share of faces with an occluder over them")
    decoy_rate: Fraction = Field(
        0.0,
        description="share of occluders that are decoys: a patch over the mouth or the eyes printed with that "
        "feature of another expression (a novelty face mask, cartoon glasses), which misleads a classifier that "
        "reads it and which a mask can remove",
    )
    max_yaw: Annotated[float, Field(ge=0.0, le=80.0)] = Field(50.0, description="largest head yaw, degrees")
    max_roll: Annotated[float, Field(ge=0.0, le=90.0)] = Field(10.0, description="largest in-plane rotation, degrees")
    scale_jitter: Annotated[float, Field(ge=0.0, le=0.5)] = Field(0.05, description="relative face size jitter")
    max_shift: Annotated[float, Field(ge=0.0, le=0.3)] = Field(0.03, description="largest face shift, share of image")
    blur: NonNegativeFloat = Field(0.8, description="largest Gaussian blur sigma, in output pixels")
    noise: Fraction = Field(0.04, description="largest Gaussian pixel-noise std, share of the 0-255 range")


class FerplusParams(Section):
    valid_as: Literal["val", "train"] = Field(
        "val", description="FER2013Valid as the validation split (val) or joined to the training split (train)"
    )
    train_rows: Literal["majority", "votes"] = Field(
        "majority",
        description="training rows kept: those with a majority label (majority, as val and test), or also those "
        "FERPlus's reference code trains on with its vote-distribution targets (votes: the top emotions hold over "
        "half of the votes), labelled by their most-voted emotion; meant for mvt.targets: votes",
    )


class RafdbParams(Section):
    images: Literal["aligned", "original"] = Field(
        "aligned", description="Image/aligned/*_aligned.jpg (the usual 100x100 faces) or Image/original/*.jpg"
    )


class PrepareParams(Section):
    root: str | None = Field(None, description="raw data folder of the chosen dataset (unused for synthetic)")
    subset_lists: str | None = Field(
        None,
        description="folder of the RAN occlusion/pose lists (FERplus_dir/, RAF_DB_dir/, AffectNet_dir/): "
        "flags the test subsets of ferplus, rafdb and affectnet; null: no subsets",
    )
    bad_rows: Literal["error", "skip"] = Field(
        "error",
        description="a missing or undecodable image: stop naming file and line (error), "
        "or count it in metrics/prepare.json and go on (skip)",
    )
    image_size: Annotated[int, Field(ge=16, le=1024)] = Field(48, description="side of the stored square images")
    workers: PositiveInt | None = Field(
        None, description="processes that decode images (the stored bytes do not depend on it); null: every core"
    )
    noise_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.0, description="share of train labels flipped at random (the clean label is kept)"
    )
    synthetic: SyntheticParams = SyntheticParams()
    ferplus: FerplusParams = FerplusParams()
    rafdb: RafdbParams = RafdbParams()


class ModelParams(Section):
    name: str = Field("deit_small_patch16_224", description="timm model name of the backbone")
    pretrained: str = Field(
        "none",
        description="backbone weights of classifier, G and D: none, timm (timm's hub, needs the network) "
        "or a local .pth / .safetensors file (resampled to the image and patch size)",
    )
    # The defaults are the demo's small ViT (params.yaml); null keeps the timm model's own value (the presets).
    img_size: PositiveInt | None = Field(48, description="override; must equal prepare.image_size; null: the model's")
    patch_size: PositiveInt | None = Field(8, description="override of the patch side; null: the model's")
    embed_dim: PositiveInt | None = Field(128, description="override of the token width; null: the model's")
    depth: PositiveInt | None = Field(4, description="override of the number of blocks; null: the model's")
    num_heads: PositiveInt | None = Field(4, description="override of the attention heads; null: the model's")
    drop_path_rate: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(0.1, description="stochastic depth")
    stem: Literal["patch", "conv"] = Field(
        "conv",
        description="how images become tokens: patch = the ViT's one strided projection per patch (what "
        "pretrained weights need); conv = 3x3 stride-2 convolutions with BatchNorm and ReLU, then a 1x1 "
        "convolution, ending on the same token grid (early convolutions: trains from scratch in a few epochs)",
    )

    def timm_kwargs(self) -> dict:
        """The architecture overrides that are set, as timm.create_model keyword arguments."""
        keys = ("img_size", "patch_size", "embed_dim", "depth", "num_heads")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


class AugmentParams(Section):
    hflip: Fraction = Field(0.5, description="probability of a horizontal flip")
    shift: Annotated[float, Field(ge=0.0, le=0.5)] = Field(0.0, description="largest random shift, share of side")
    color_jitter: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.3, description="brightness/contrast/saturation jitter strength"
    )
    color_jitter_p: Fraction = Field(0.8, description="probability of applying color jitter")
    random_erasing: Fraction = Field(0.0, description="probability of erasing one random rectangle")


class MgnParams(Section):
    """The mask generation network: generator G, discriminator D, and their alternating training."""

    depth: PositiveInt = Field(2, description="backbone blocks in G (the paper: the first 6 of DeiT-S)")
    view: View = Field(
        "show",
        description="mask semantics (docs/design.md): show = Mp marks unimportant patches, D sees x*up(Mp); "
        "hide = Mp marks important patches, D sees x*up(1-Mp)",
    )
    d_warmup_epochs: NonNegativeInt = Field(2, description="epochs training D alone before G joins")
    d_warmup_random: bool = Field(
        True,
        description="warm D up on random-masked views too (Eq. 1 with the full image for G's view); "
        "false: on full images only",
    )
    epochs: NonNegativeInt = Field(1, description="adversarial epochs, alternating D and G")
    d_steps_per_g_step: PositiveInt = Field(1, description="D updates between two G updates")
    batch_size: PositiveInt = Field(64, description="batch size")
    lr_d: PositiveFloat = Field(1e-3, description="peak AdamW learning rate of D")
    lr_g: PositiveFloat = Field(1e-3, description="peak AdamW learning rate of G")
    lr_gamma: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.93, description="exponential decay per epoch of both learning rates, after one epoch of linear warm-up"
    )
    weight_decay: NonNegativeFloat = Field(0.05, description="AdamW weight decay of both")
    temperature: PositiveFloat = Field(1.0, description="sigmoid temperature of G's output (lower = harder masks)")
    estimator: Estimator = Field(
        "soft",
        description="how D sees G's mask and G gets its gradient: sampled = binary masks drawn from "
        "Bernoulli(Mp), score-function gradient; straight_through = exactly the top mask_ratio share by Mp, "
        "gradient through D; soft = the soft Mp itself, gradient through D",
    )
    samples: PositiveInt = Field(4, description="mask draws per image in a G step (sampled estimator)")
    num_workers: NonNegativeInt | None = Field(
        None,
        description="DataLoader worker processes; null: from the machine's cores (none on 2 cores, where "
        "a worker slows the steps it feeds; augmentation runs on the device, so the count never changes results)",
    )
    augment: AugmentParams = AugmentParams(color_jitter=0.0)


class MasksParams(Section):
    source: Literal["generator", "random", "oracle"] = Field(
        "generator",
        description="the masks the classifier gets: G's (the method), or the bounds beside it: random "
        "(each image its own random patches, same area) or oracle (the patches with the least face, from the "
        "synthetic face truth)",
    )
    batch_size: PositiveInt = Field(256, description="batch size when running G over every image")
    samples: PositiveInt = Field(8, description="images in the sample grid (the paper's Fig. 2)")


class MvtParams(Section):
    epochs: PositiveInt = Field(6, description="training epochs")
    batch_size: PositiveInt = Field(64, description="batch size")
    lr: PositiveFloat = Field(1e-3, description="peak AdamW learning rate")
    weight_decay: NonNegativeFloat = Field(0.05, description="AdamW weight decay")
    lr_gamma: Annotated[float, Field(gt=0.0, le=1.0)] = Field(
        0.7,
        description="exponential decay: the learning rate is multiplied by this after every epoch (the "
        "paper's decay rate is not given; its presets use 0.93)",
    )
    warmup_epochs: NonNegativeInt = Field(1, description="epochs of linear warm-up before the exponential decay")
    num_workers: NonNegativeInt | None = Field(
        None,
        description="DataLoader worker processes; null: from the machine's cores (none on 2 cores, where "
        "a worker slows the steps it feeds; augmentation runs on the device, so the count never changes results)",
    )
    compile: bool | Literal["cuda"] = Field(
        False,
        description="torch.compile the classifier for training: true, false, or cuda (only on a GPU, where it "
        "pays: the paper presets); the first epoch pays the compilation",
    )
    batch_per_device: PositiveInt | None = Field(
        None,
        description="images per process and step; the global batch is this x the processes. null: batch_size "
        "is the global batch, split between the processes (the paper's 32 stays 32 on any number of GPUs)",
    )
    lr_scaling: Literal["none", "linear"] = Field(
        "none",
        description="linear: lr x global batch / batch_size (the linear scaling rule, for batch_per_device "
        "on many GPUs); none: lr as given",
    )
    sampler: Literal["uniform", "balanced"] = Field(
        "uniform",
        description="uniform: each image once per epoch; balanced: draw images with probability "
        "1/(count of their class), as many as there are (class-balanced oversampling, for AffectNet)",
    )
    targets: Literal["hard", "votes"] = Field(
        "hard",
        description="what the classifier is trained on: hard = the (majority) label; votes = the annotators' "
        "label distribution, cross-entropy against it (FERPlus only; accuracy is still on the majority label; an "
        "image relabeled by Eq. 6 trains on its new label)",
    )
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.0, description="label smoothing of the classifier's cross-entropy (0: none, the paper's)"
    )
    ema_decay: Annotated[float, Field(gt=0.0, lt=1.0)] | None = Field(
        None,
        description="keep an exponential moving average of the classifier's weights (timm's ModelEmaV3) with "
        "this decay per step; it is what is scored each epoch and saved. null: none (the paper's)",
    )
    use_masks: bool = Field(
        True, description="train and evaluate on MGN-masked images from data/masks (false: the paper's baseline)"
    )
    monitor_test: bool = Field(
        False,
        description="also score the test split after every epoch (the paper's "
        "Fig. 5b; the ablation turns it on). Off by default: tune on val, never on test",
    )
    augment: AugmentParams = AugmentParams()


class RelabelParams(Section):
    """Dynamic relabeling (Eq. 6): from `start_epoch` on, once the training accuracy has reached
    `min_train_acc`, a training label becomes argmax p when P_max - P_gt > f(P_gt) + delta."""

    enabled: bool = Field(False, description="relabel suspected wrong training labels during train_mvt")
    fn: Literal["constant", "linear", "quadratic", "sigmoid"] = Field(
        "sigmoid",
        description="f: constant (f = 0, SCN's rule), linear a*p, quadratic a*p^2, sigmoid a*sigmoid(b*(p-c))",
    )
    delta: NonNegativeFloat = Field(0.2, description="the lower limit of the threshold (SCN's and the paper's 0.2)")
    start_epoch: NonNegativeInt = Field(10, description="first epoch (counting from 1) in which labels may change")
    min_train_acc: Fraction | None = Field(
        0.9,
        description="relabeling starts only after an epoch whose training accuracy (on the labels as they "
        "stood) reached this, and then stays on (the paper's 'high enough (e.g. 90%)', Sec. 4.3); null: no gate",
    )
    a: NonNegativeFloat = Field(1.0, description="scale of f")
    b: NonNegativeFloat = Field(10.0, description="steepness of the sigmoid f")
    c: Fraction = Field(0.5, description="midpoint of the sigmoid f")


class EvaluateParams(Section):
    batch_size: PositiveInt = Field(256, description="batch size for inference")
    bootstrap: NonNegativeInt = Field(
        1000,
        description="bootstrap resamples of the test set for the 95% intervals of accuracy and mean-class "
        "accuracy (eval.json `ci95`; seeded by `seed`); 0: none",
    )
    tta: bool = Field(
        False,
        description="test-time augmentation: average the class probabilities of each image and its "
        "horizontal mirror (its keep-mask mirrored too); false: the image alone (the paper's)",
    )
    tta_shifts: list[PositiveInt] = Field(
        [],
        description="more test-time views: each view (the image, and its mirror with tta) also moved by +-s "
        "whole pixels left, right, up and down for every s listed, its keep-mask moved with it; [1, 2] with tta "
        "averages 18 views. []: none",
    )
    val: bool = Field(
        False,
        description="also score the validation split, with the same views and prior correction, into "
        "eval.json's `val` (where choices are made: never on test)",
    )
    prior_tau: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.0,
        description="post-hoc prior correction: predict argmax log p(y|x) - tau log pi_y, pi the training "
        "labels' class frequencies (Menon et al. 2021); trades accuracy for mean-class accuracy; 0: plain argmax",
    )
    cross_test: str | None = Field(
        None,
        description="another dataset's prepared store (a data/prepared folder) whose test split is also "
        "scored, classes matched by name, into eval.json's `cross`; null: none",
    )


class LaunchParams(Section):
    command: str = Field(
        "python",
        description="how dvc.yaml starts train_mgn, masks and train_mvt: python (one process) or "
        "torchrun with its options, e.g. 'torchrun --nproc-per-node 2' (multi-node: add --nnodes, "
        "--node-rank, --rdzv-endpoint as torchrun documents)",
    )


class Params(Section):
    seed: NonNegativeInt = Field(0, description="seeds every random choice of every stage")
    dataset: Literal["synthetic", "ferplus", "rafdb", "affectnet7", "affectnet8", "folder"] = Field(
        "synthetic", description="which dataset prepare builds (all but synthetic read prepare.root)"
    )
    mask_ratio: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        0.15, description="share of the image the mask generation network erases (m in Eq. 2)"
    )
    prepare: PrepareParams = PrepareParams()
    model: ModelParams = ModelParams()
    mgn: MgnParams = MgnParams()
    masks: MasksParams = MasksParams()
    mvt: MvtParams = MvtParams()
    relabel: RelabelParams = RelabelParams()
    evaluate: EvaluateParams = EvaluateParams()
    launch: LaunchParams = LaunchParams()

    @model_validator(mode="after")
    def _consistent(self) -> Params:
        if self.model.img_size is not None and self.model.img_size != self.prepare.image_size:
            raise ValueError(
                f"model.img_size: {self.model.img_size} differs from prepare.image_size "
                f"{self.prepare.image_size}; leave it unset or make them equal"
            )
        if self.dataset != "synthetic" and self.prepare.root is None:
            raise ValueError(f"prepare.root: dataset {self.dataset} needs the folder of its raw data")
        if self.model.stem == "conv" and self.model.pretrained != "none":
            raise ValueError(
                f"model.stem: conv has no pretrained weights; set model.stem: patch to load {self.model.pretrained}"
            )
        if self.model.depth is not None and self.mgn.depth > self.model.depth:
            raise ValueError(
                f"mgn.depth: {self.mgn.depth} exceeds the backbone's {self.model.depth} blocks (model.depth)"
            )
        return self


def _format(err: ValidationError, source: str) -> str:
    """The first validation error as one line: `params.yaml: mvt.epochs: <why> (got <value>)`."""
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{source}: {key}: unknown key (check the spelling; see params.py for the schema)"
    if first["type"] == "value_error" and not key:
        return f"{source}: {first['msg'].removeprefix('Value error, ')}"
    got = first.get("input")
    return f"{source}: {key}: {first['msg']} (got {got!r})"


def parse_params(raw: dict, source: str = "params.yaml") -> Params:
    """Validate an already-loaded mapping; raises UserError with one line naming the key."""
    if not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping of keys at the top level")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise UserError(_format(err, source)) from None


def read_yaml(path: str | Path):
    """A YAML file as plain Python data, read as YAML 1.2 like DVC reads params (PyYAML's YAML 1.1 reads
    `lr: 1e-05`, which `dvc exp run -S mvt.lr=1e-5` writes, as a string)."""
    path = Path(path)
    try:
        return YAML(typ="safe", pure=True).load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such params file") from None
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{path}:{where} is not valid YAML ({getattr(err, 'problem', err)})") from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    return parse_params(read_yaml(path) or {}, str(path))
