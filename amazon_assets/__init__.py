"""amazon-assets: an open, self-hosted data platform for Amazon sellers, as one Dagster asset graph."""
