"""`python -m smsledger.adapters.cli`, as the `smsledger` command."""

import sys

from smsledger.adapters.cli.main import main

sys.exit(main())
