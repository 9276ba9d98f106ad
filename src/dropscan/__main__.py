"""``python -m dropscan``: the same as the ``dropscan`` command."""

from .cli import main

main()
