"""`python -m daemon` is the same program as the `ozon-sync` command."""

from daemon.cli import main

if __name__ == "__main__":
    main()
