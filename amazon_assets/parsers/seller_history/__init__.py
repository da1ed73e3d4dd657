"""Seller-history documents (flat files, settlements, financial events) -> typed frames."""
