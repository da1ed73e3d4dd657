"""An Amazon-compatible local marketplace: login-with-Amazon, SP-API Reports, synthetic data, faults."""

from amazon_assets.sandbox.config import SandboxConfig
from amazon_assets.sandbox.faults import Faults
from amazon_assets.sandbox.marketplace import Marketplace
from amazon_assets.sandbox.reports import REPORT_GENERATORS, ReportGenerator, ReportRequest
from amazon_assets.sandbox.server import SandboxServer, serve

__all__ = [
    "REPORT_GENERATORS",
    "Faults",
    "Marketplace",
    "ReportGenerator",
    "ReportRequest",
    "SandboxConfig",
    "SandboxServer",
    "serve",
]
