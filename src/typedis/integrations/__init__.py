"""Adapters between typedis and other frameworks, each an optional extra
(``typedis.integrations.loomflow``: ``pip install 'typedis[loomflow]'``).

Nothing is imported here: importing an adapter's module is what needs its extra.
"""
