"""``python -m sweetiechat`` runs the command line."""

from sweetiechat.cli import main

main()
