"""Machine learning over the features: labels, temporal split, LightGBM ranker, tuning, evaluation."""
