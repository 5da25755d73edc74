"""The run report: one self-contained offline HTML page with figures and tables (see docs/report.md)."""

from clauselens.report.writer import write_report

__all__ = ["write_report"]
