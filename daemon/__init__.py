"""ozon-sync: a deadline watch for Ozon FBS/rFBS postings.

The package is named `daemon`; see the README for why ozon-sync belongs in its own virtual
environment (python-daemon uses the same import name).
"""

__version__ = "0.1.0"
