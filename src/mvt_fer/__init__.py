"""MVT-FER: Mask Vision Transformer for facial expression recognition in the wild."""

__version__ = "0.1.0"
