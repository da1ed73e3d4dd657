"""The ml domain: labels, ranker, tuning, evaluation and daily predictions as Dagster assets."""
