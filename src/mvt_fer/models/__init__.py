"""Networks, all built by timm name: the MVT classifier (also the MGN's discriminator) and the generator G."""

from .factory import MaskedClassifier, create_backbone, create_classifier
from .generator import MaskGenerator, create_generator

__all__ = ["MaskedClassifier", "MaskGenerator", "create_backbone", "create_classifier", "create_generator"]
