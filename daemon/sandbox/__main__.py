"""`python -m daemon.sandbox`: run the simulated Ozon Seller API as its own process."""

import sys

from daemon.sandbox.command import main

sys.exit(main())
