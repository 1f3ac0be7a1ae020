"""pybgp: a pure-Python BGP speaker library with route-table sync."""

__version__ = "0.1.0"
