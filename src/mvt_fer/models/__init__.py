"""Networks, all built by timm name: the MVT classifier now; the generator and discriminator with the MGN."""

from .factory import MaskedClassifier, create_backbone, create_classifier

__all__ = ["MaskedClassifier", "create_backbone", "create_classifier"]
