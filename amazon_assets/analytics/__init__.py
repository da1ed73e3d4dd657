"""Pure analytics over the mart: features, baseline score, alerts and competitor comparison."""
