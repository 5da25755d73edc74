"""clauselens: how training choices change what code-compliance LLMs read."""

__version__ = "0.1.0"
