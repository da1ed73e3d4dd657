"""The seller dashboard: server-rendered pages mounted on the product API app (/dashboard)."""
