"""Datasets: the synthetic generator, the real-dataset adapters, the prepared and masks stores, augmentation."""
