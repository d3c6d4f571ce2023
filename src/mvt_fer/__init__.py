"""MVT-FER: Mask Vision Transformer for facial expression recognition in the wild."""

import os

# albumentations checks for updates over the network on import; this pipeline runs offline.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

__version__ = "0.1.0"
