"""``python -m hbr`` runs the command-line interface."""

from hbr.cli import main

if __name__ == "__main__":
    main()
