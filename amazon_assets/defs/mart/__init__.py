"""The daily mart (mart_asin_daily), its data-quality report, features, score, alerts, competition."""
