"""Measuring models: the metrics, the ImageNet features for KID, the evaluation and its records."""
